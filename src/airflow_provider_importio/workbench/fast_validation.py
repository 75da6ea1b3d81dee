"""Rows of a schema checked in plain Python, with the rule names :mod:`row_schema` (jsonschema) gives.

:class:`RowValidator` compiles a :class:`~airflow_provider_importio.workbench.config_model.Schema`
once into one Python expression per rule — the JSON type (``bool`` is no number; URL, IMAGE, DATE
and DATETIME add their pattern), a pre-compiled ``re`` pattern searched as jsonschema's ``pattern``
does, ``minimum``/``maximum`` on numbers, ``minLength``/``maxLength`` on strings, an ``enum`` of
strings as a set — and hands a rule to a jsonschema validator of that one keyword wherever it is
unsure (a keyword it does not compile, an ``enum`` holding non-strings). Semantics are
``row_schema``'s: ``None`` passes every rule but ``<field>.required``; a missing key counts as ``None``.

The expressions are generated into Python source (``RowValidator.source``), in two flavours:

* for any row (:meth:`RowValidator.errors`, equal to the rule names of ``row_violations`` — a test
  holds the two equal over generated rows);
* for values typed from extracted text by :func:`coerce_text` (:func:`typed_checks_source`, used by
  the statistics pass), where a value's class is known to be one of a few, so checks that cannot
  fail (the type of a text field, ``minimum`` on a string) are left out.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from jsonschema import Draft202012Validator

from airflow_provider_importio.workbench import row_schema

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Field, Schema

#: Field types whose value is a link's ``href`` when the extracted value has one.
LINK_VALUE_TYPES = frozenset({"URL", "IMAGE"})

Namespace = dict[str, Any]


# -- JSON types, as jsonschema's Draft 2020-12 type checker decides them (slow paths) ------------

def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int)


#: ``v`` is of the JSON type, for a value of any class.
_ANY_CLASS_GUARDS = {
    "string": "(v.__class__ is str or isinstance(v, str))",
    "number": "(v.__class__ is float or v.__class__ is int or _is_number(v))",
    "integer": "(v.__class__ is int or _is_integer(v))",
    "boolean": "(v.__class__ is bool)",
}
#: Python classes of each JSON type among the exact classes ``coerce_text`` gives.
_JSON_CLASSES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
    "boolean": frozenset({bool}),
}
#: The classes a non-null value of each field type has after :func:`coerce_text`.
TYPED_CLASSES: dict[str, frozenset[type]] = {
    "NUMBER": frozenset({int, float, str}),
    "INTEGER": frozenset({int, str}),
    "BOOLEAN": frozenset({bool, str}),
}
_TEXT_CLASSES = frozenset({str})


def _guard(json_type: str, classes: frozenset[type] | None) -> str | bool:
    """Whether ``v`` is of ``json_type``: an expression, or ``True``/``False`` when ``classes`` decide it."""
    if classes is None:
        return _ANY_CLASS_GUARDS[json_type]
    if json_type == "integer" and float in classes:  # a float may be integral
        return _ANY_CLASS_GUARDS[json_type]
    inside = classes & _JSON_CLASSES[json_type]
    if inside == classes:
        return True
    if not inside:
        return False
    outside = classes - inside
    if len(outside) == 1:
        return f"v.__class__ is not {next(iter(outside)).__name__}"
    return "(" + " or ".join(f"v.__class__ is {cls.__name__}" for cls in sorted(inside, key=str)) + ")"


def _when(guard: str | bool, test: str) -> str | None:
    """``not guard or test``: the rule holds for values outside its type; ``None`` if it always holds."""
    if guard is False:
        return None
    if guard is True:
        return test
    return f"(not {guard} or {test})"


class Constants:
    """Names for the values generated code refers to (patterns, limits, sets, fallbacks)."""

    def __init__(self) -> None:
        self.namespace: Namespace = {"_is_number": _is_number, "_is_integer": _is_integer}

    def add(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name


def _searcher(pattern: str) -> Callable[[str], Any]:
    """``re.search`` of ``pattern`` (jsonschema's ``pattern``); ``match`` — the same, faster — when
    the pattern is anchored with ``^`` and has no ``|`` that could make the anchor optional."""
    compiled = re.compile(pattern)
    return compiled.match if pattern.startswith("^") and "|" not in pattern else compiled.search


def _pattern_test(pattern: str, constants: Constants) -> str:
    """A string ``v`` matches ``pattern`` (as jsonschema's ``re.search``)."""
    return f"{constants.add(_searcher(pattern))}(v) is not None"


def _type_expression(field_type: str, constants: Constants, classes: frozenset[type] | None) -> str | None:
    """``<field>.type`` of a non-null ``v`` (the JSON type, plus the pattern of URL/DATE/... types)."""
    spec = row_schema._TYPE_SCHEMAS[field_type]
    json_type = next(t for t in spec["type"] if t != "null")
    guard = _guard(json_type, classes)
    if "pattern" in spec:
        test = _pattern_test(spec["pattern"], constants)
        return "False" if guard is False else test if guard is True else f"({guard} and {test})"
    return None if guard is True else "False" if guard is False else guard


def _rule_expression(key: str, value: Any, constants: Constants, classes: frozenset[type] | None) -> str | None:
    """Rule ``key`` (its camelCase keyword) of a non-null ``v``; ``None`` when it cannot fail."""
    if key == "pattern":
        return _when(_guard("string", classes), _pattern_test(value, constants))
    if key == "minimum":
        return _when(_guard("number", classes), f"not v < {constants.add(value)}")
    if key == "maximum":
        return _when(_guard("number", classes), f"not v > {constants.add(value)}")
    if key == "minLength":
        return _when(_guard("string", classes), f"len(v) >= {constants.add(value)}")
    if key == "maxLength":
        return _when(_guard("string", classes), f"len(v) <= {constants.add(value)}")
    if key == "enum" and all(isinstance(item, str) for item in value):
        guard = _guard("string", classes)
        test = f"v in {constants.add(frozenset(value))}"
        return "False" if guard is False else test if guard is True else f"(isinstance(v, str) and {test})"
    # Unsure: this one keyword goes to jsonschema (``null`` accepted, as in row_schema).
    keyword_value = list(value) + [None] if key == "enum" else value
    return f"{constants.add(Draft202012Validator({key: keyword_value}).is_valid)}(v)"


def field_checks(field: Field, constants: Constants, *, typed: bool = False) -> list[tuple[str, str]]:
    """``(rule name, passing expression)`` for a non-null ``v``, in rule order (type, then the rules).

    With ``typed``, ``v`` is known to come from :func:`coerce_text`, and checks that cannot fail are
    left out.
    """
    classes = TYPED_CLASSES.get(field.type, _TEXT_CLASSES) if typed else None
    checks = [(f"{field.name}.type", _type_expression(field.type, constants, classes))]
    checks.extend((f"{field.name}.{key}", _rule_expression(key, value, constants, classes))
                  for key, value in field.rules.items())
    return [(rule, expression) for rule, expression in checks if expression is not None]


def _check_lines(field: Field, constants: Constants, indent: str, *, typed: bool) -> list[str]:
    """Check ``v`` (the field's value): add broken rules to ``failed``; clear ``empty`` if there is a value."""
    return [f"{indent}if v is None:", *(_missing_lines(field, indent + "    ") or [f"{indent}    pass"]),
            f"{indent}else:", f"{indent}    empty = False", *_rule_lines(field, constants, indent + "    ", typed=typed)]


def _missing_lines(field: Field, indent: str) -> list[str]:
    """The field has no value: only ``<field>.required`` can break."""
    return [f"{indent}failed = _add(failed, {field.name + '.required'!r})"] if field.required else []


def _rule_lines(field: Field, constants: Constants, indent: str, *, typed: bool) -> list[str]:
    """The non-null ``v`` breaks each rule whose expression is false."""
    lines = []
    for rule, expression in field_checks(field, constants, typed=typed):
        lines += [f"{indent}if not {expression}:", f"{indent}    failed = _add(failed, {rule!r})"]
    return lines


def _add(failed: list[str] | None, rule: str) -> list[str]:
    if failed is None:
        return [rule]
    failed.append(rule)
    return failed


def typed_checks_source(
    schema: Schema, constants: Constants, *, texts: str = "c", values: str = "v", indent: str = "    "
) -> list[str]:
    """Lines typing extracted texts ``<texts>0..`` (``str`` or ``None``, one per field) into
    ``<values>0..`` with :func:`coerce_text`, then checking them: ``failed`` (``None`` or the broken
    rule names, in rule order) and ``empty`` (no field has a value) are set."""
    lines = [f"{indent}failed = None", f"{indent}empty = True"]
    inner = indent + "    "
    for index, field in enumerate(schema.fields):
        conversion = _conversion_lines(field.type, inner) or []
        if conversion:
            constants.namespace.update(_CONVERSION_NAMES)
        lines += [
            f"{indent}v = {texts}{index}",
            f"{indent}if not v or v.isspace():",
            f"{inner}{values}{index} = None",
            *_missing_lines(field, inner),
            f"{indent}else:",
            *conversion,
            f"{inner}{values}{index} = v",
            f"{inner}empty = False",
            *_rule_lines(field, constants, inner, typed=True),
        ]
    return lines


def columns(schema: Schema) -> list[tuple[str, bool]]:
    """``(field, prefer_href)`` per field: what to read of an extracted row (URL/IMAGE take the href)."""
    return [(f.name, f.type in LINK_VALUE_TYPES) for f in schema.fields]


def generate(source: str, namespace: Namespace, name: str) -> Callable[..., Any]:
    """Function ``name`` of generated ``source``."""
    scope = {**namespace, "_add": _add}
    exec(compile(source, f"<generated {name}>", "exec"), scope)  # noqa: S102 - our own templates
    return scope[name]  # type: ignore[no-any-return]


class RowValidator:
    """A schema compiled to plain-Python checks: :meth:`errors` ≡ ``row_violations`` rule names."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        constants = Constants()
        lines = ["def errors(row):", "    get = row.get", "    failed = None"]
        for field in schema.fields:
            lines.append(f"    v = get({field.name!r})")
            lines += _check_lines(field, constants, "    ", typed=False)
        lines.append("    return failed or []")
        typed = ["def typed_row(texts):", f"    ({''.join(f'c{i}, ' for i in range(len(schema.fields)))}) = texts"]
        typed += typed_checks_source(schema, constants)
        row = ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(schema.fields))
        typed += ["    return None if empty else ({" + row + "}, failed)"]
        self.source = "\n".join(lines) + "\n\n" + "\n".join(typed) + "\n"
        self._errors = generate(self.source, constants.namespace, "errors")
        self._typed_row = generate(self.source, constants.namespace, "typed_row")

    def errors(self, row: Mapping[str, Any]) -> list[str]:
        """The names of the rules ``row`` breaks, in rule order (empty when it is valid)."""
        return self._errors(row)  # type: ignore[no-any-return]

    def typed_row(self, texts: tuple[str | None, ...]) -> tuple[dict[str, Any], list[str] | None] | None:
        """Extracted texts (one per field, ``None`` if missing) typed by :func:`coerce_text` and checked:
        ``(row, broken rules or None)``, or ``None`` when no field has a value (the statistics' path)."""
        return self._typed_row(texts)  # type: ignore[no-any-return]


# -- typing extracted text ------------------------------------------------------------------------

#: How non-blank text ``v`` becomes a value of a field type, as source (inlined by the statistics
#: pass; :func:`coerce_text` runs the same source). Text that does not convert stays as it is.
_CONVERSIONS: dict[str, str] = {
    # A finite decimal (``float()`` also takes "nan", "inf" and "1_000": they stay text); an integer
    # literal is an ``int`` if it fits 64 bits (the rows file and the store hold no more), else a float.
    # Most prices are JSON numbers, which ``orjson.loads`` reads to the same value in a third of
    # ``float()``'s time; anything else (or an ``int`` beyond 64 bits) takes the general path. Text
    # ``float()`` makes a finite number of starts with a space, a sign, a point or a decimal digit:
    # other text ("N/A") is not tried (a failing ``float()`` costs a microsecond).
    "NUMBER": """\
_n = None
if v[0] in _number_start:
    try:
        _n = _json_number(v)
    except ValueError:
        pass
if _n.__class__ is float or (_n.__class__ is int and -9223372036854775808 <= _n <= 9223372036854775807):
    v = _n
elif v[0] in '+-.' or v[0].isdecimal() or v[0].isspace():
    try:
        _n = float(v)
    except ValueError:
        pass
    else:
        if _n - _n == 0.0 and '_' not in v:
            if '.' in v or 'e' in v or 'E' in v:
                v = _n
            else:
                _i = int(v)
                v = _i if -9223372036854775808 <= _i <= 9223372036854775807 else _n
""",
    # Digits with an optional sign, within 64 bits; anything else stays text (and fails ``.type``).
    # (``\\s`` also matches U+001C–U+001F, which ``int()`` refuses: such text stays text.)
    "INTEGER": """\
if len(v) <= 64 and _integer_text(v) is not None:
    try:
        _i = int(v)
    except ValueError:
        pass
    else:
        if -9223372036854775808 <= _i <= 9223372036854775807:
            v = _i
""",
    "BOOLEAN": """\
_n = v.strip().lower()
if _n == 'true':
    v = True
elif _n == 'false':
    v = False
""",
}
_CONVERSION_NAMES: Namespace = {
    "_integer_text": re.compile(r"\s*[+-]?[0-9]+\s*").fullmatch,
    "_json_number": orjson.loads,
    "_number_start": frozenset("-0123456789"),  # how a JSON number starts
}


def _conversion_lines(field_type: str, indent: str) -> list[str] | None:
    source = _CONVERSIONS.get(field_type)
    return None if source is None else [indent + line for line in source.splitlines()]


def _converter(field_type: str) -> Callable[[str], Any]:
    lines = _conversion_lines(field_type, "    ") or []
    source = "\n".join(["def convert(v):", *lines, "    return v"]) + "\n"
    return generate(source, _CONVERSION_NAMES, "convert")


_CONVERTERS: dict[str, Callable[[str], Any]] = {name: _converter(name) for name in _CONVERSIONS}


def coerce_text(field_type: str, text: str | None) -> Any:
    """Extracted ``text`` as a value of ``field_type``.

    Blank text (empty or whitespace only) is ``None`` — no value — for every type. NUMBER: a decimal
    (``12``, ``-3.5``, ``1e3``; without ``.`` or exponent an ``int`` when it fits 64 bits; ``nan``,
    ``inf`` and ``1_000`` stay text); INTEGER: ASCII digits with an optional sign, within 64 bits;
    BOOLEAN: ``true``/``false`` in any case.
    Text that does not convert stays text, so the field's ``.type`` rule reports it; the other types
    keep the text as it is.
    """
    if text is None or not text or text.isspace():
        return None
    convert = _CONVERTERS.get(field_type)
    return text if convert is None else convert(text)
