"""Structural checks of a project file: credential-looking keys and the file's JSON Schema.

Every check returns ``(path, message)`` pairs; unknown keys get a suggestion (``did you mean 'chunks'?``).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from jsonschema import Draft202012Validator

from airflow_provider_importio.workbench.config_errors import format_path
from airflow_provider_importio.workbench.config_schema import PROJECT_FILE_SCHEMA

Issue = tuple[str, str]
_VALIDATOR = Draft202012Validator(PROJECT_FILE_SCHEMA)
_SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey",
                 "credential", "passphrase", "encryptedconfig", "sessionkey")
_ID_KEYS = frozenset({"slug", "schema", "forkedFrom", "collectionId", "connection", "inputConnection",
                      "extractorId", "bucket", "inputBucket"})


def looks_secret(key: Any) -> bool:
    """Whether a key names a credential (``accessKeyId``, ``password``, ``api_key``, ``token`` ...)."""
    squashed = re.sub(r"[^a-z]", "", str(key).lower())
    return any(word in squashed for word in _SECRET_WORDS)


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def secret_issues(data: Any, path: tuple[str | int, ...] = ()) -> list[Issue]:
    """A credential-looking key anywhere, and identifiers spanning lines."""
    issues: list[Issue] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if looks_secret(key):
                issues.append((format_path([*path, str(key)]),
                               f"{key!r} looks like a credential: never put secrets in a project file; store them in "
                               "an Airflow connection and give its id (destination 'connection', flow "
                               "'definition.inputConnection')"))
                continue
            if key in _ID_KEYS and isinstance(value, str) and ("\n" in value or "\r" in value):
                issues.append((format_path([*path, key]), "must be a single line"))
            issues.extend(secret_issues(value, (*path, str(key))))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            issues.extend(secret_issues(item, (*path, index)))
    return issues


def structural_issues(data: Any) -> list[Issue]:
    """JSON Schema errors as issues: unknown keys (with a suggestion), missing keys, types, enums, patterns."""
    issues: list[Issue] = []
    for error in _VALIDATOR.iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for key in error.instance:
                if isinstance(key, str) and key not in known and not looks_secret(key):
                    issues.append((format_path([*path, key]), _unknown_key(key, known)))
        elif error.validator == "required" and isinstance(error.instance, dict):
            for key in error.validator_value:
                if key not in error.instance:
                    issues.append((format_path([*path, key]), f"required key {key!r} is missing"))
        else:
            custom = error.schema.get("x-messages", {}).get(error.validator) if isinstance(error.schema, dict) else None
            message = f"{short_repr(error.instance)} {custom}" if custom else error.message
            if isinstance(error.instance, bool) and error.validator in ("enum", "type", "pattern"):
                message += " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the value)"
            issues.append((format_path(path), message if len(message) <= 300 else message[:297] + "..."))
    return issues


def _unknown_key(key: str, known: list[str]) -> str:
    for name in known:
        if name.lower() == key.lower():
            return f"unknown key {key!r}: keys are case sensitive, write {name!r}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(known)}"
    return f"unknown key {key!r}{hint}"
