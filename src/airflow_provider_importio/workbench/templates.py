"""The one template engine for input URIs and destination paths, filenames and Stitch tables.

Syntax
------
* ``{name}`` — a placeholder; ``{{`` and ``}}`` are literal braces.
* ``:name`` — the guide's colon form of the same placeholder (``s3://{bucketname}/:YYYY/:ww/:source/inputs.json``):
  a ``:`` followed by a letter and then letters, digits or ``_`` (greedy). ``::`` is a literal ``:``.
  A ``:`` not followed by a letter (``s3://``, ``host:8080``) is plain text.

Both forms take the same variables; which exist depends on the kind of template
(:data:`INPUT_VARIABLES`, :data:`DESTINATION_VARIABLES`). Values are sanitised as they are substituted
(:func:`sanitize_value`): a value can never add a path separator, and :func:`safe_join` refuses any
rendered path that would leave its base directory.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

#: Variables taken from the moment (UTC): year, month, day, hour, minute, ISO week, ISO week-year, date.
TIME_VARIABLES = ("YYYY", "MM", "DD", "HH", "mm", "ww", "GGGG", "date")
#: Variables of an input URI template (``definition.inputUriTemplate``).
INPUT_VARIABLES = frozenset(
    {"YYYY", "MM", "DD", "HH", "ww", "GGGG", "bucketname", "source", "flow", "collection", "project"}
)
#: Variables of a destination template (``pathTemplate``, ``filenameTemplate``, ``table``).
DESTINATION_VARIABLES = frozenset(
    {"project", "collection", "source", "flow", "snapshot", "chunk", "delivery", "format", "ext", *TIME_VARIABLES}
)
KINDS: dict[str, frozenset[str]] = {"input": INPUT_VARIABLES, "destination": DESTINATION_VARIABLES}

_TOKEN = re.compile(r"\{\{|\}\}|::|\{([^{}]*)\}|:([A-Za-z][A-Za-z0-9_]*)|[{}]")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_UNSAFE_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")


class TemplateError(ValueError):
    """A template is malformed, or a variable it uses has no value."""


def _scan(text: str) -> tuple[list[str | tuple[str]], list[str]]:
    """The template as literal strings and ``(name,)`` placeholders, plus syntax errors."""
    parts: list[str | tuple[str]] = []
    errors: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[pos:match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}", "::"):
            parts.append(token[0])
        elif match.group(2) is not None:
            parts.append((match.group(2),))
        elif match.group(1) is not None:
            name = match.group(1)
            if _NAME.fullmatch(name):
                parts.append((name,))
            else:
                errors.append(f"malformed placeholder {token!r} (write {{name}}; use {{{{ and }}}} for literal braces)")
        else:
            errors.append(f"unbalanced {token!r} at character {match.start()} (use {token * 2} for a literal brace)")
    parts.append(text[pos:])
    return parts, errors


def template_variables(text: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    names: list[str] = []
    for part in _scan(text)[0]:
        if isinstance(part, tuple) and part[0] not in names:
            names.append(part[0])
    return names


def check_template(text: str, kind: str) -> list[str]:
    """Problems with a template of ``kind`` (``input`` or ``destination``): syntax and unknown variables."""
    if kind not in KINDS:
        raise ValueError(f"unknown template kind {kind!r}; expected one of {', '.join(sorted(KINDS))}")
    known = KINDS[kind]
    parts, errors = _scan(text)
    for part in parts:
        if isinstance(part, tuple) and part[0] not in known:
            message = f"unknown variable {part[0]!r}; {kind} templates know {', '.join(sorted(known, key=str.lower))}"
            if message not in errors:
                errors.append(message)
    return errors


def sanitize_value(value: Any) -> str:
    """A variable's value made safe for a path segment: ``/``, ``\\`` and control characters become ``_``.

    A value made only of dots (``.``, ``..``) becomes underscores, so it can never name a parent directory.
    """
    text = _UNSAFE_CHARS.sub("_", str(value))
    if text and set(text) == {"."}:
        text = "_" * len(text)
    return text


def render(text: str, variables: Mapping[str, Any]) -> str:
    """The template with every placeholder replaced by its sanitised value; raises :class:`TemplateError`."""
    parts, errors = _scan(text)
    if errors:
        raise TemplateError(f"template {text!r}: {errors[0]}")
    out: list[str] = []
    for part in parts:
        if isinstance(part, tuple):
            name = part[0]
            if name not in variables or variables[name] is None:
                raise TemplateError(f"template {text!r}: no value for variable {name!r}")
            out.append(sanitize_value(variables[name]))
        else:
            out.append(part)
    return "".join(out)


def time_variables(moment: datetime) -> dict[str, str]:
    """The time variables of an aware datetime, taken in UTC.

    ``ww`` is the zero-padded ISO week and ``GGGG`` its ISO week-year: 2027-01-01 is week ``53`` of ``2026``,
    while ``YYYY`` (the calendar year) is ``2027``.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time variables need an aware datetime (with a time zone)")
    utc = moment.astimezone(timezone.utc)
    iso = utc.isocalendar()
    return {
        "YYYY": f"{utc.year:04d}",
        "MM": f"{utc.month:02d}",
        "DD": f"{utc.day:02d}",
        "HH": f"{utc.hour:02d}",
        "mm": f"{utc.minute:02d}",
        "ww": f"{iso[1]:02d}",
        "GGGG": f"{iso[0]:04d}",
        "date": utc.date().isoformat(),
    }


def input_variables(
    *, moment: datetime, project: str, collection: str, flow: str, source: str, bucketname: str | None = None
) -> dict[str, str]:
    """The variables of an input URI template for one source of a delivery starting at ``moment``."""
    values = {k: v for k, v in time_variables(moment).items() if k in INPUT_VARIABLES}
    values.update(project=project, collection=collection, flow=flow, source=source)
    if bucketname is not None:
        values["bucketname"] = bucketname
    return values


def destination_variables(
    *,
    moment: datetime,
    project: str,
    collection: str,
    flow: str,
    source: str,
    snapshot: str,
    delivery: str,
    chunk: int | str,
    format: str,  # noqa: A002 - the variable's documented name
) -> dict[str, str]:
    """The variables of a destination template; ``ext`` is the lower-case ``format``."""
    values = time_variables(moment)
    values.update(
        project=project, collection=collection, flow=flow, source=source, snapshot=snapshot,
        delivery=delivery, chunk=str(chunk), format=format.upper(), ext=format.lower(),
    )
    return values


def _where(base: str) -> str:
    """How a message names ``base``: quoted, or "the bucket root" (not quoted) when empty."""
    return repr(base) if base else "the bucket root"


def safe_join(base: str, rendered: str) -> str:
    """``rendered`` (a relative ``/``-separated path) joined under ``base``, normalised.

    Raises :class:`ValueError` if the path is empty, absolute, holds a backslash, a NUL or another control
    character, or has a ``..`` segment — anything that could leave ``base``. ``.`` and empty segments are
    dropped. ``base`` may be empty (an S3 key from the bucket root) or ``/`` (an SFTP root).
    """
    for label, value in (("base", base), ("path", rendered)):
        if "\\" in value:
            raise ValueError(f"{label} {value!r} contains a backslash")
        if re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError(f"{label} {value!r} contains a NUL or control character")
    if rendered.startswith("/"):
        raise ValueError(f"path {rendered!r} is absolute; it must be relative to {_where(base)}")
    segments = [s for s in rendered.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ValueError(f"path {rendered!r} has a '..' segment and could leave {_where(base)}")
    if ".." in base.split("/"):
        raise ValueError(f"base {base!r} has a '..' segment")
    if not segments:
        raise ValueError(f"path {rendered!r} is empty")
    joined = "/".join(segments)
    if not base:
        return joined
    root = posixpath.normpath(base)
    result = posixpath.normpath(posixpath.join(root, joined))
    if root not in ("/", ".") and not result.startswith(root.rstrip("/") + "/"):
        raise ValueError(f"path {rendered!r} leaves {base!r}")  # defence in depth
    return result if root != "." else joined
