"""Validation of Stitch Import API bodies, with Stitch's (everit-style) error messages.

``/v2/import/batch`` bodies are checked against :data:`BATCH_SCHEMA` and then each record
against the batch's own JSON schema; ``/v2/import/validate`` and ``/v2/import/push`` bodies
(the *push* format, an array of records) against :data:`PUSH_SCHEMA`. Everything here is pure:
functions return an error message (or a list of reasons) instead of answering HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jsonschema
from jsonschema import Draft7Validator

#: Largest accepted ``sequence`` (a signed 64-bit integer).
MAX_SEQUENCE = 9223372036854775807
#: Records in one request.
MAX_RECORDS = 20_000
#: Data points (leaf values) in one record's ``data``.
MAX_DATA_POINTS = 10_000
#: String key values must be shorter than this.
MAX_KEY_LENGTH = 256
#: JSON schema types Stitch knows.
KNOWN_TYPES = frozenset({"null", "string", "integer", "number", "boolean", "object", "array"})

_MESSAGE = {
    "type": "object",
    "required": ["action", "sequence", "data"],
    "additionalProperties": False,
    "properties": {
        "action": {"enum": ["upsert"]},
        "sequence": {"type": "integer", "maximum": MAX_SEQUENCE},
        "data": {"type": "object"},
    },
}

#: The ``POST /v2/import/batch`` body.
BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["table_name", "schema", "messages"],
    "additionalProperties": False,
    "properties": {
        "table_name": {"type": "string", "minLength": 1},
        "schema": {
            "type": "object",
            "required": ["properties"],
            "properties": {"properties": {"type": "object"}},
        },
        "messages": {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS, "items": _MESSAGE},
        "key_names": {"type": "array", "items": {"type": "string"}},
    },
}

_PUSH_RECORD = {
    "type": "object",
    "required": ["client_id", "table_name", "sequence", "action", "data"],
    "additionalProperties": False,
    "properties": {
        "client_id": {"type": "integer"},
        "table_name": {"type": "string", "minLength": 1},
        "sequence": {"type": "integer", "maximum": MAX_SEQUENCE},
        "action": {"enum": ["upsert"]},
        "key_names": {"type": "array", "items": {"type": "string"}},
        "data": {"type": "object"},
    },
}

#: The push format (``/v2/import/validate``, ``/v2/import/push``): an array of records.
PUSH_SCHEMA: dict[str, Any] = {"type": "array", "minItems": 1, "maxItems": MAX_RECORDS, "items": _PUSH_RECORD}

_BATCH_VALIDATOR = Draft7Validator(BATCH_SCHEMA)
#: The batch body without per-message checks (those run in Python first, for speed).
_SHALLOW_BATCH_VALIDATOR = Draft7Validator(
    {
        **BATCH_SCHEMA,
        "properties": {
            **BATCH_SCHEMA["properties"],
            "messages": {k: v for k, v in BATCH_SCHEMA["properties"]["messages"].items() if k != "items"},
        },
    }
)
_MESSAGE_KEYS = frozenset(_MESSAGE["properties"])
_PY_TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
}
#: Exact Python types each JSON type accepts without a closer look (``_PY_TYPES`` has the rest:
#: an integral float is an ``integer``, any ``Mapping`` an ``object``).
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
#: Property keywords the fast record check understands (``format`` is not enforced either way).
_SIMPLE_KEYWORDS = frozenset({"type", "format", "description", "title"})


def _message_ok(message: Any) -> bool:
    if not isinstance(message, dict) or message.keys() != _MESSAGE_KEYS:
        return False
    sequence = message["sequence"]
    return (
        message["action"] == "upsert"
        and isinstance(sequence, int)
        and not isinstance(sequence, bool)
        and sequence <= MAX_SEQUENCE
        and isinstance(message["data"], dict)
    )


def _fast_record_check(schema: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """A pure-Python record check for schemas of plain typed properties, else ``None``."""
    if set(schema) - {"type", "properties", "additionalProperties"} or schema.get("additionalProperties", True) is not True:
        return None
    if schema.get("type", "object") not in ("object", ["object"], ["null", "object"]):
        return None
    checks: dict[str, list[Callable[[Any], bool]]] = {}
    exact: dict[str, frozenset[type]] = {}  # Python types that pass at once (the common case)
    for name, prop in schema["properties"].items():
        if not isinstance(prop, Mapping) or set(prop) - _SIMPLE_KEYWORDS:
            return None
        types = prop.get("type")
        if types is None:
            continue
        names = [types] if isinstance(types, str) else types
        checks[name] = [_PY_TYPES[t] for t in names]
        exact[name] = frozenset(kind for t in names for kind in _EXACT_TYPES[t])

    def check(data: Mapping[str, Any]) -> bool:
        for name, value in data.items():
            passing = exact.get(name)
            if passing is None or type(value) in passing:
                continue
            if not any(test(value) for test in checks[name]):
                return False
        return True

    return check
_PUSH_VALIDATOR = Draft7Validator(PUSH_SCHEMA)

_TYPE_NAMES = {
    "string": "String",
    "integer": "Integer",
    "number": "Number",
    "boolean": "Boolean",
    "object": "JSONObject",
    "array": "JSONArray",
    "null": "Null",
}


def type_name(value: Any) -> str:
    """The everit-style name of a JSON value's type (``String``, ``Integer``, ``JSONObject`` ...)."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, Mapping):
        return "JSONObject"
    if isinstance(value, list):
        return "JSONArray"
    return type(value).__name__


def _expected(types: Any) -> str:
    if isinstance(types, str):
        return _TYPE_NAMES.get(types, types)
    return "[" + ", ".join(_TYPE_NAMES.get(t, str(t)) for t in types) + "]"


def pointer(path: Iterable[Any]) -> str:
    """A JSON pointer in Stitch's ``#/a/0/b`` notation."""
    return "#" + "".join(f"/{part}" for part in path)


def _sort_key(error: jsonschema.ValidationError) -> tuple[int, list[tuple[int, int, str]]]:
    parts = [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
    return len(parts), parts


def _first(errors: Iterable[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    errors = list(errors)
    return min(errors, key=_sort_key) if errors else None


def describe(error: jsonschema.ValidationError, expected_word: str = "expected type") -> str:
    """``#/path: <everit-style message>`` for a jsonschema error."""
    where = pointer(error.absolute_path)
    kind, instance, value = error.validator, error.instance, error.validator_value
    if kind == "required" and isinstance(instance, Mapping):
        missing = next((key for key in value if key not in instance), value[0])
        return f"{where}: required key [{missing}] not found"
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(key for key in instance if key not in allowed)
        return f"{where}: extraneous key [{extra[0] if extra else '?'}] is not permitted"
    if kind == "type":
        return f"{where}: {expected_word}: {_expected(value)}, found: {type_name(instance)}"
    if kind == "minItems":
        return f"{where}: expected minimum item count: {value}, found: {len(instance)}"
    if kind == "maxItems":
        return f"{where}: expected maximum item count: {value}, found: {len(instance)}"
    if kind == "enum":
        return f"{where}: {instance} is not a valid enum value"
    if kind == "maximum":
        return f"{where}: {instance} is not less or equal to {value}"
    if kind == "minLength":
        return f"{where}: expected minLength: {value}, actual: {len(instance)}"
    if kind == "maxLength":
        return f"{where}: expected maxLength: {value}, actual: {len(instance)}"
    return f"{where}: {error.message}"


def unknown_type(schema: Any) -> str | None:
    """The first type named in ``schema`` (walked recursively) that Stitch does not know."""
    if isinstance(schema, Mapping):
        types = schema.get("type")
        for name in [types] if isinstance(types, str) else types if isinstance(types, list) else []:
            if isinstance(name, str) and name not in KNOWN_TYPES:
                return name
        for value in schema.values():
            if isinstance(value, (Mapping, list)):
                found = unknown_type(value)
                if found:
                    return found
    elif isinstance(schema, list):
        for item in schema:
            found = unknown_type(item)
            if found:
                return found
    return None


_SCALARS = (str, int, float, type(None))


def data_points(value: Any) -> int:
    """Leaf values in ``value`` (an object or array counts its members, recursively)."""
    if isinstance(value, Mapping):
        items = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return 1
    return sum(1 if isinstance(item, _SCALARS) else data_points(item) for item in items)


def key_error(index: int, data: Mapping[str, Any], key_names: Sequence[str]) -> str | None:
    """Missing/null key properties and over-long string keys."""
    for key in key_names:
        if data.get(key) is None:
            return f"Record is missing key property {key}"
    for key in key_names:
        value = data[key]
        if isinstance(value, str) and len(value) >= MAX_KEY_LENGTH:
            return f"Record {index} key property {key} must be shorter than {MAX_KEY_LENGTH} characters"
    return None


def record_limits_error(index: int, data: Mapping[str, Any]) -> str | None:
    points = data_points(data)
    if points > MAX_DATA_POINTS:
        return f"Record {index} has {points} data points; at most {MAX_DATA_POINTS} are allowed"
    return None


def batch_error(body: Any) -> str | None:
    """The ``error`` text for a ``/v2/import/batch`` body, or ``None`` when it is valid."""
    error = _first(_SHALLOW_BATCH_VALIDATOR.iter_errors(body))
    if error is None and not all(_message_ok(message) for message in body["messages"]):
        error = _first(_BATCH_VALIDATOR.iter_errors(body))
    if error is not None:
        return "Request failed validation:" + describe(error)
    schema = body["schema"]
    unknown = unknown_type(schema)
    if unknown:
        return f"Invalid JSON schema: unknown type: [{unknown}]"
    try:
        Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"Invalid JSON schema: {exc.message}"
    validator = Draft7Validator(schema)
    fast = _fast_record_check(schema)
    key_names = body.get("key_names") or []
    for index, message in enumerate(body["messages"]):
        data = message["data"]
        problem = key_error(index, data, key_names)
        if problem:
            return problem
        record_error = None if fast is not None and fast(data) else _first(validator.iter_errors(data))
        if record_error is not None:
            return f"Record {index} did not conform to schema: " + describe(record_error, "expected")
        problem = record_limits_error(index, data)
        if problem:
            return problem
    return None


def push_reasons(records: list[Any]) -> list[str]:
    """Reasons a push-format array is invalid (empty when it is valid)."""
    reasons = [describe(error) for error in sorted(_PUSH_VALIDATOR.iter_errors(records), key=_sort_key)]
    if reasons:
        return list(dict.fromkeys(reasons))[:100]
    for index, record in enumerate(records):
        problem = key_error(index, record["data"], record.get("key_names") or [])
        problem = problem or record_limits_error(index, record["data"])
        if problem:
            reasons.append(problem)
    return reasons[:100]
