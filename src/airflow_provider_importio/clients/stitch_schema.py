"""Translating a JSON Schema of output rows into a Stitch Import API batch schema.

Stitch types columns from the batch schema and rejects a batch whose records do not conform,
so the batch schema keeps only what types a column: ``type`` (made nullable, except for key
fields, which Stitch needs present and non-null), ``format: date-time``, and the same for nested
``properties`` and ``items``. Validation rules (patterns, ranges, lengths, enums) are left out:
they are the QA checks' business, and a row that breaks one is delivered flagged, not refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

STITCH_TYPES = ("null", "boolean", "integer", "number", "string", "object", "array")


def batch_schema(json_schema: Mapping[str, Any], key_names: Sequence[str] = ()) -> dict[str, Any]:
    """``{"properties": {...}}`` for ``POST /v2/import/batch`` from a row's JSON Schema."""
    properties = _properties(json_schema)
    if not properties:
        raise ValueError("the row schema has no 'properties' object to translate into a Stitch schema")
    missing = [key for key in key_names if key not in properties]
    if missing:
        raise ValueError(f"key field(s) {', '.join(map(repr, missing))} are not properties of the row schema")
    keys = set(key_names)
    out: dict[str, Any] = {}
    for name, prop in properties.items():
        translated = _property(prop, nullable=name not in keys)
        if translated is not None:
            out[name] = translated
    return {"properties": out}


_TYPING_KEYS = ("type", "format", "properties", "items", "anyOf", "oneOf")


def _properties(json_schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level ``properties`` merged with those of ``allOf`` branches (the collection schema keeps
    one rule a branch), keeping only what types a column."""
    merged: dict[str, dict[str, Any]] = {}
    for branch in [json_schema, *(json_schema.get("allOf") or ())]:
        if not isinstance(branch, Mapping):
            continue
        nested = _properties(branch) if branch is not json_schema else {}
        own = branch.get("properties")
        for source in (own if isinstance(own, Mapping) else {}, nested):
            for name, prop in source.items():
                if isinstance(prop, Mapping):
                    merged.setdefault(name, {}).update({k: prop[k] for k in _TYPING_KEYS if k in prop})
    return merged


def _property(prop: Any, *, nullable: bool = True) -> dict[str, Any] | None:
    if not isinstance(prop, Mapping):
        return None
    types = _types(prop)
    if not types:
        return None  # untyped: Stitch types the column from the values
    if nullable and "null" not in types:
        types.append("null")
    if not nullable and "null" in types and len(types) > 1:
        types.remove("null")
    out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if prop.get("format") == "date-time":
        out["format"] = "date-time"
    if "object" in types and isinstance(prop.get("properties"), Mapping):
        out["properties"] = {k: p for k, v in prop["properties"].items() if (p := _property(v)) is not None}
    if "array" in types and isinstance(prop.get("items"), Mapping):
        items = _property(prop["items"])
        if items is not None:
            out["items"] = items
    return out


def _types(prop: Mapping[str, Any]) -> list[str]:
    """The property's JSON types in Stitch's vocabulary (``anyOf``/``oneOf`` branches merged)."""
    found: list[str] = []
    raw = prop.get("type")
    for name in [raw] if isinstance(raw, str) else list(raw or ()):
        if name in STITCH_TYPES and name not in found:
            found.append(name)
    for branch in list(prop.get("anyOf") or ()) + list(prop.get("oneOf") or ()):
        if isinstance(branch, Mapping):
            found += [t for t in _types(branch) if t not in found]
    return found
