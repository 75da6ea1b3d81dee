"""Property tests: the statistics' fast path says what jsonschema says, over generated schemas and rows.

The QA statistics never call jsonschema per row: ``fast_validation`` compiles a schema to plain
Python, the pass reads each line and row with subscripts when it has the usual shape, and types
prices with ``orjson``. Each of those shortcuts is held here to its plain counterpart — jsonschema
(``row_schema.row_violations``), ``flatten_row``, the key-by-key line reading, ``float()`` — on rows
hypothesis makes up: valid and invalid, wrong types, missing or null required fields, extra keys,
nested arrays and objects, odd line shapes.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_importio.clients.importio_results import (
    LINK_SUFFIX,
    compile_row_reader,
    flatten_row,
    scan_result_line,
)
from airflow_provider_importio.workbench.config_model import FIELD_TYPES, Field, FieldRules, Schema
from airflow_provider_importio.workbench.fast_validation import RowValidator, coerce_text, columns
from airflow_provider_importio.workbench.row_schema import row_violations
from airflow_provider_importio.workbench.statistics import compute_statistics

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- schemas -----------------------------------------------------------------------------------------

NAMES = ("name", "price", "count", "flag", "link", "image", "day", "at", "note")
PATTERNS = (r"^[A-Z]{2}", "a|^b", r"\d", "^2026-", r"^https?://", "x$", r"^\S+$")
NUMBERS = st.one_of(st.integers(-1000, 1000), st.floats(-1000, 1000, allow_nan=False), st.sampled_from([0, 0.5, 1e308]))
ENUM_ITEMS = st.one_of(st.sampled_from(["AB", "ABC", "xyz", "", "1", "true"]), st.integers(-3, 3),
                       st.sampled_from([1.0, 2.5, True, False]))


@st.composite
def rules(draw: Any) -> FieldRules:
    maybe = lambda strategy: draw(st.one_of(st.none(), strategy))  # noqa: E731 - local shorthand
    return FieldRules(
        pattern=maybe(st.sampled_from(PATTERNS)), minimum=maybe(NUMBERS), maximum=maybe(NUMBERS),
        min_length=maybe(st.integers(0, 6)), max_length=maybe(st.integers(0, 40)),
        enum=maybe(st.lists(ENUM_ITEMS, min_size=1, max_size=4).map(tuple)),
    )


@st.composite
def schemas(draw: Any) -> Schema:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    fields = tuple(Field(name, draw(st.sampled_from(FIELD_TYPES)), draw(st.booleans()), draw(rules()))
                   for name in names)
    return Schema(slug="generated", name="Generated", fields=fields)


# -- values --------------------------------------------------------------------------------------------

#: Text that the types and rules care about: numbers in many spellings, URLs, dates, blanks.
INTERESTING_TEXT = (
    "", " ", "\t", "\u00a0", "AB", "ABC", "ABCDEF", "a", "b", "ba", "xyz", "N/A", "n/a", "true", "FALSE", "yes",
    "0", "-0", "12", " 12 ", "+7", "007", "-3.50", "1e3", "1E3", "1.", ".5", "1_000", "nan", "inf", "-Infinity",
    "١٢", "12\n", "1,234.56", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "123456789012345678901234", "1e400", "1" * 400, "0.1e-400",
    "https://shop.example/p/1", "http://x", "https://a b", "ftp://x", "https://", "https://ok.example/\n",
    "https://x\u00a0y", "https://bücher.example", "HTTPS://x", "2026-01-05", "2026-13-01", "2026-01-05T10:30Z",
    "2026-01-05 10:30:00+01:00", "2026-01-05T25:00",
)
TEXT = st.one_of(
    st.sampled_from(INTERESTING_TEXT), st.text(max_size=12),
    st.from_regex(r"\s?-?(0|[1-9]\d{0,25})(\.\d{1,20})?([eE][+-]?\d{1,3})?\s?", fullmatch=True),  # numbers
    st.builds(str.__add__, st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "https:/", "2026-01-0"]),
              st.text(max_size=8)),  # URLs and dates, with anything after the start
    st.from_regex(r"https?://[a-z./$?#]{0,4}\s?[a-z]{0,3}\n?", fullmatch=True),  # URLs, some with spaces
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)


@st.composite
def rows_of(draw: Any, schema: Schema) -> dict[str, Any]:
    """A row: some of the schema's fields (a missing key is ``None``), any values, maybe extra keys."""
    row = {f.name: draw(st.one_of(TEXT, VALUES)) for f in schema.fields if draw(st.booleans()) or draw(st.booleans())}
    row.update(draw(st.dictionaries(st.sampled_from(["_url", "_status", "extra", "Name"]), VALUES, max_size=2)))
    return row


def jsonschema_rules(schema: Schema, row: Any) -> list[str]:
    return [rule for rule, _ in row_violations(schema, row)]


# -- the compiled checks ≡ jsonschema, for any row ----------------------------------------------------

@SETTINGS
@given(st.data())
def test_compiled_checks_name_the_rules_jsonschema_names(data: Any) -> None:
    schema = data.draw(schemas())
    validator = RowValidator(schema)
    for _ in range(5):
        row = data.draw(rows_of(schema))
        assert validator.errors(row) == jsonschema_rules(schema, row), (validator.source, row)


# -- typing extracted text, then checking it ≡ jsonschema on the typed row -----------------------------

@SETTINGS
@given(st.data())
def test_typed_checks_name_the_rules_jsonschema_names(data: Any) -> None:
    schema = data.draw(schemas())
    validator = RowValidator(schema)
    for _ in range(5):
        texts = tuple(data.draw(st.one_of(st.none(), TEXT)) for _ in schema.fields)
        checked = validator.typed_row(texts)
        typed = [coerce_text(f.type, t) for f, t in zip(schema.fields, texts)]
        if checked is None:  # no field has a value: the row is filtered
            assert typed == [None] * len(typed)
            continue
        row, failed = checked
        assert list(row.values()) == typed
        assert (failed or []) == jsonschema_rules(schema, row), (validator.source, row)


def float_number(text: str | None) -> Any:
    """NUMBER typing as plain ``float()``/``int()`` code: what the ``orjson`` shortcut must equal."""
    if text is None or not text or text.isspace():
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number) or "_" in text:
        return text
    if "." in text or "e" in text or "E" in text:
        return number
    whole = int(text)
    return whole if -(2**63) <= whole < 2**63 else number


@settings(max_examples=1000, deadline=None)
@given(TEXT)
@example("-0")
@example("-0.0")
@example("18446744073709551615")
@example("1" * 309)
@example("4.9e-324")
def test_number_typing_equals_float(text: str) -> None:
    ours, plain = coerce_text("NUMBER", text), float_number(text)
    assert (type(ours), repr(ours)) == (type(plain), repr(plain))


# -- reading a row's fields ≡ flatten_row ---------------------------------------------------------------

VALUE_OBJECT = st.fixed_dictionaries({}, optional={
    "text": st.one_of(TEXT, st.none(), st.integers(), st.floats(allow_nan=False)),
    "href": st.one_of(st.sampled_from(["", "https://x.example/1"]), st.none(), st.integers(0, 2), TEXT),
    "src": TEXT,
})
GROUP = st.dictionaries(st.sampled_from(NAMES), st.lists(VALUE_OBJECT, max_size=3), max_size=5)


@SETTINGS
@given(GROUP, st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), min_size=1, max_size=4,
                       unique_by=lambda c: c[0]))
def test_row_reader_reads_what_flatten_row_gives(group: dict[str, Any], wanted: list[tuple[str, bool]]) -> None:
    flat = flatten_row(group)
    expected = tuple((flat.get(name + LINK_SUFFIX) or flat.get(name)) if href else flat.get(name)
                     for name, href in wanted)
    assert compile_row_reader(wanted)(group) == expected


def test_row_reader_reads_a_null_field_as_missing() -> None:
    assert compile_row_reader([("name", False), ("link", True)])({"name": None, "link": None}) == (None, None)


# -- reading a line ≡ reading it key by key --------------------------------------------------------------

def scan_by_keys(obj: dict[str, Any]) -> tuple[Any, ...]:
    """The line's ``(url, status, error type, html captured, groups)`` with ``.get`` at every step."""
    result = obj.get("result") or {}
    page = result.get("pageData") or {}
    data = (result.get("extractorData") or {}).get("data")
    if not data:
        groups: list[Any] = []
    else:
        groups = [group for block in data for group in (block.get("group") or ())]
    status = page.get("statusCode")
    if status is not None and status.__class__ is not int:
        status = int(status)
    error = result.get("error")
    return (obj.get("url", ""), status, error.get("type") if error else None,
            page.get("htmlCaptured", True) is not False, groups)


ROW = st.fixed_dictionaries({"name": st.lists(VALUE_OBJECT, max_size=2)})
PARTS = ("status", "html", "error", "group", "data", "extractor", "page", "url", "result")
KEEP, MISSING = object(), object()


@st.composite
def result_lines(draw: Any) -> dict[str, Any]:
    """The usual line (one data block, a status code), with up to two of its parts changed."""
    changed = draw(st.sets(st.sampled_from(PARTS), max_size=2))
    parts = iter(PARTS)

    def change(*options: Any) -> Any:
        return draw(st.sampled_from(options)) if next(parts) in changed else KEEP

    def put(mapping: dict[str, Any], key: str, value: Any) -> None:
        if value is MISSING:
            mapping.pop(key, None)
        elif value is not KEEP:
            mapping[key] = value

    page: dict[str, Any] = {"statusCode": 200, "resourceId": "r"}
    block: dict[str, Any] = {"group": draw(st.lists(ROW, max_size=3))}
    extractor: dict[str, Any] = {"url": "u", "data": [block]}
    result: dict[str, Any] = {"extractorData": extractor, "pageData": page}
    line: dict[str, Any] = {"url": "https://shop.example/p/1", "result": result}
    put(page, "statusCode", change(MISSING, None, 404, True, "200", 503.0))
    put(page, "htmlCaptured", change(False, True, None))
    put(result, "error", change(None, {}, {"type": "SYSTEM_ERROR"}, {"type": "BLOCKED"}, {"message": "?"}))
    put(block, "group", change(MISSING, None, []))
    put(extractor, "data", change(MISSING, None, [], [block, {"group": draw(st.lists(ROW, max_size=2))}]))
    put(result, "extractorData", change(MISSING, None, {}))
    put(result, "pageData", change(MISSING, None, {}))
    put(line, "url", change(MISSING, None))
    put(line, "result", change(MISSING, None, {}))
    return line


@settings(max_examples=500, deadline=None)
@given(result_lines())
def test_line_scan_reads_what_key_by_key_reading_gives(line: dict[str, Any]) -> None:
    url, status, error_type, html_captured, groups = scan_result_line(line)
    assert (url, status, error_type, html_captured, list(groups)) == scan_by_keys(line)


# -- the statistics' counts ≡ jsonschema's, row by row ----------------------------------------------------

def result_line(url: str, groups: list[dict[str, Any]], status: int = 200) -> bytes:
    return orjson.dumps({"url": url, "result": {"extractorData": {"url": url, "data": [{"group": groups}]},
                                                "pageData": {"statusCode": status}}})


@st.composite
def pages(draw: Any, schema: Schema) -> list[bytes]:
    """Result lines whose rows hold the schema's fields as Import.io value objects (texts, links)."""
    def value(name: str) -> list[dict[str, Any]]:
        text = draw(st.one_of(TEXT, st.integers(-5, 5)))
        link = draw(st.one_of(st.none(), TEXT))
        return [{"text": text} if link is None else {"text": text, "href": link}]

    lines = []
    for n in range(draw(st.integers(1, 4))):
        groups = [{f.name: value(f.name) for f in schema.fields if draw(st.integers(0, 5))}
                  for _ in range(draw(st.integers(0, 4)))]
        lines.append(result_line(f"https://shop.example/p/{n}", groups, draw(st.sampled_from([200, 200, 404]))))
    return lines


@SETTINGS
@given(st.data())
def test_statistics_count_what_jsonschema_counts(data: Any) -> None:
    schema = data.draw(schemas())
    lines = data.draw(pages(schema))
    rows: list[dict[str, Any]] = []
    stats = compute_statistics(lines, schema, rows_out=rows.append)

    expected_rows, broken = [], dict.fromkeys(schema.rule_names, 0)
    for line in lines:
        obj = orjson.loads(line)
        for group in obj["result"]["extractorData"]["data"][0]["group"]:
            flat = flatten_row(group)
            texts = [(flat.get(f.name + LINK_SUFFIX) or flat.get(f.name)) if href else flat.get(f.name)
                     for f, (_, href) in zip(schema.fields, columns(schema))]
            typed = {f.name: coerce_text(f.type, t) for f, t in zip(schema.fields, texts)}
            if all(v is None for v in typed.values()):
                continue  # filtered
            failing = jsonschema_rules(schema, typed)
            for rule in failing:
                broken[rule] += 1
            expected_rows.append({**typed, "_url": obj["url"], "_status": obj["result"]["pageData"]["statusCode"],
                                  "_valid": not failing, "_errors": failing})
    assert rows == expected_rows
    assert (stats.total_rows, stats.valid_rows, stats.validation_errors) == (
        len(expected_rows), sum(r["_valid"] for r in expected_rows), broken)

    ndjson: list[bytes] = []
    assert compute_statistics(lines, schema, ndjson_out=ndjson.append) == stats
    assert ndjson == [orjson.dumps(row) + b"\n" for row in rows]


def test_patterns_used_here_compile() -> None:
    for pattern in PATTERNS:
        re.compile(pattern)
