"""A Workbench schema as a JSON Schema (Draft 2020-12) for one output row, and rule names for its errors.

Each rule is its own subschema under ``allOf`` carrying its stable name in the annotation keyword
``x-rule`` (``price.minimum``, ``name.required``, ``url.type``), so :func:`rule_name` maps any
:class:`jsonschema.ValidationError` back to the rule that failed — what the QA step counts.

Semantics: a value may be ``null`` unless the field is required; *required* means the key is present
and its value is not ``null`` (add ``minLength: 1`` to refuse empty strings too). Each failure is
reported under exactly one rule: a ``null`` in a required field fails ``<field>.required`` only, as the
type and the other rules accept ``null``. Rows may carry any other keys (``_url``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, ValidationError

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Field, Schema

RULE_KEY = "x-rule"
ROW_TYPE_RULE = "row.type"

# ``\S*`` rather than the equivalent ``[^\s]*``: Python's ``re`` runs a category faster than a negated set.
_URL = r"^https?://[^\s/$.?#]\S*$"
_DATE = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
_DATETIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)

_TYPE_SCHEMAS: dict[str, dict[str, Any]] = {
    "STRING": {"type": ["string", "null"]},
    "TEXT": {"type": ["string", "null"]},
    "NUMBER": {"type": ["number", "null"]},
    "INTEGER": {"type": ["integer", "null"]},
    "BOOLEAN": {"type": ["boolean", "null"]},
    "URL": {"type": ["string", "null"], "pattern": _URL},
    "IMAGE": {"type": ["string", "null"], "pattern": _URL},
    "DATE": {"type": ["string", "null"], "pattern": _DATE},
    "DATETIME": {"type": ["string", "null"], "pattern": _DATETIME},
}


def _field_subschemas(field: Field) -> list[dict[str, Any]]:
    name = field.name
    parts: list[dict[str, Any]] = []
    if field.required:
        rule = f"{name}.required"
        parts.append({
            RULE_KEY: rule,
            "required": [name],
            "properties": {name: {RULE_KEY: rule, "not": {"type": "null"}}},
        })
    parts.append({"properties": {name: {RULE_KEY: f"{name}.type", **_TYPE_SCHEMAS[field.type]}}})
    for key, value in field.rules.items():
        keyword_value: Any = list(value) + [None] if key == "enum" else value
        parts.append({"properties": {name: {RULE_KEY: f"{name}.{key}", key: keyword_value}}})
    return parts


def build_row_schema(schema: Schema) -> dict[str, Any]:
    """The JSON Schema of one row of ``schema``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{schema.name} (schema {schema.slug} v{schema.version}, {schema.status})",
        RULE_KEY: ROW_TYPE_RULE,
        "type": "object",
        "additionalProperties": True,
        "allOf": [part for field in schema.fields for part in _field_subschemas(field)],
    }


@lru_cache(maxsize=64)
def row_validator(schema: Schema) -> Draft202012Validator:
    """A (cached) validator of rows of ``schema``."""
    return Draft202012Validator(build_row_schema(schema))


def rule_name(error: ValidationError) -> str:
    """The rule name of a validation error of a row schema (``price.minimum``).

    Errors from other schemas fall back to ``<path>.<keyword>`` (``row.<keyword>`` at the top).
    """
    subschema = error.schema if isinstance(error.schema, Mapping) else {}
    if RULE_KEY in subschema:
        return str(subschema[RULE_KEY])
    where = ".".join(str(p) for p in error.absolute_path) or "row"
    return f"{where}.{error.validator}"


def row_violations(schema: Schema, row: Any) -> list[tuple[str, str]]:
    """``(rule name, message)`` for each rule one row breaks, in rule order."""
    errors = row_validator(schema).iter_errors(row)
    return [(rule_name(e), _message(e)) for e in sorted(errors, key=lambda e: list(e.schema_path))]


def _message(error: ValidationError) -> str:
    rule = rule_name(error)
    if rule.endswith(".required"):
        return f"{rule[: -len('.required')]!r} is required: missing or null"
    if error.validator == "enum":
        allowed = [v for v in error.validator_value if v is not None]
        return f"{error.instance!r} is not one of {allowed!r}"
    return error.message


def count_violations(schema: Schema, rows: Iterable[Any]) -> Counter[str]:
    """Validation errors per rule name over many rows (every rule of the schema present, zeros included)."""
    counts: Counter[str] = Counter({name: 0 for name in schema.rule_names})
    validator = row_validator(schema)
    for row in rows:
        for error in validator.iter_errors(row):
            counts[rule_name(error)] += 1
    return counts
