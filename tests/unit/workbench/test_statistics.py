"""Statistics per snapshot: exact values over emulator result files, rule names ≡ jsonschema, speed."""

from __future__ import annotations

import json
import math
import random
import time
from decimal import Decimal
from typing import Any

import orjson
import pytest

from airflow_provider_importio.clients.importio_results import (
    compile_row_reader,
    flatten_row,
    parse_result_line,
    scan_result_line,
)
from airflow_provider_importio.testing.importio_emulator import ImportioEmulator
from airflow_provider_importio.testing.importio_files import RunSource, json_file
from airflow_provider_importio.testing.importio_pages import normalise_fields, page_rows, result_line
from airflow_provider_importio.workbench.config_model import Field, FieldRules, Schema
from airflow_provider_importio.workbench.fast_validation import RowValidator, coerce_text, columns
from airflow_provider_importio.workbench.row_schema import row_validator, row_violations, rule_name
from airflow_provider_importio.workbench.statistics import (
    STATISTIC_NAMES,
    ResultFileError,
    SnapshotStatistics,
    compute_statistics,
)

FIELDS = normalise_fields(None)  # the emulator's default fields: name (TEXT), price (TEXT), link (LINK)
PRODUCT = Schema(slug="product", name="Product", fields=(
    Field("name", "STRING", required=True, rules=FieldRules(max_length=40)),
    Field("price", "NUMBER", rules=FieldRules(minimum=0)),
    Field("link", "URL"),
))
SHOP = "https://shop.example"
#: 20 inputs: 1 system error, 1 blocked, 2 × 404, 1 × 410, 2 without data, 1 without HTML
#: (2 rows), 1 with every row twice (3 rows → 6), 1 with broken rows (2), 10 plain pages of 2 rows.
URLS = [
    f"{SHOP}/error/1", f"{SHOP}/blocked/1", f"{SHOP}/status/404", f"{SHOP}/old/status/404", f"{SHOP}/status/410",
    f"{SHOP}/nodata/1", f"{SHOP}/nodata/2", f"{SHOP}/nohtml/p?rows=2", f"{SHOP}/dupes/p?rows=3",
    f"{SHOP}/invalid/p?rows=2",
    *(f"{SHOP}/p/{n}?rows=2" for n in range(10)),
]


def lines_for(urls: list[str], fields: list[dict[str, Any]] = FIELDS) -> list[bytes]:
    """The crawl run's ``json`` file as the emulator renders it."""
    return list(json_file(RunSource(inputs=[{"_url": u} for u in urls], fields=fields, started_ms=1_767_225_600_000)))


def run(lines: Any, schema: Schema = PRODUCT) -> tuple[SnapshotStatistics, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    return compute_statistics(lines, schema, rows_out=rows.append), rows


def test_every_statistic_of_a_snapshot_exactly() -> None:
    stats, rows = run(lines_for(URLS))
    # By hand: 20 inputs. Fetched = 20 - 1 error - 1 blocked = 18. 200 responses: 2 nodata, nohtml,
    # dupes, invalid and the 10 plain pages = 15. Rows: 2 (nohtml) + 6 (dupes) + 2 (invalid) + 10 × 2
    # = 30, none filtered, from 13 inputs; 3 duplicates (the second of each dupes pair); 2 invalid
    # rows (the invalid page's: empty name; price "N/A", then negative).
    expected = {
        "total_inputs": 20.0,
        "inputs_with_data": 13.0,
        "total_rows": 30.0,
        "valid_rows": 28.0,
        "invalid_rows": 2.0,
        "system_error_pct": 100 * 1 / 20,
        "missing_html_pct": 100 * 1 / 20,  # the error page has no HTML either, but counts as a system error
        "no_data_200_pct": 100 * 2 / 15,
        "not_found_pct": 100 * 3 / 20,
        "blocked_pct": 100 * 1 / 20,
        "rows_per_input": 30 / 13,
        "duplicate_pct": 100 * 3 / 30,
        "filtered_pct": 0.0,
        "quality_score": (28 / 30) * (18 / 20),
        "validation_errors.name.type": 0.0,
        "validation_errors.name.required": 2.0,
        "validation_errors.name.maxLength": 0.0,
        "validation_errors.price.type": 1.0,
        "validation_errors.price.minimum": 1.0,
        "validation_errors.link.type": 0.0,
    }
    actual = stats.to_dict()
    assert list(actual) == list(expected)  # the names, in order: the contract the checks use
    assert actual == pytest.approx(expected, abs=1e-12)
    assert all(isinstance(v, float) for v in actual.values())
    assert tuple(actual)[: len(STATISTIC_NAMES)] == STATISTIC_NAMES
    counts = (stats.system_errors, stats.blocked, stats.not_found, stats.responses_200, stats.no_data_200)
    assert counts == (1, 1, 3, 15, 2)
    assert (stats.extracted_rows, stats.filtered_rows, stats.duplicate_rows) == (30, 0, 3)


def test_rows_are_typed_flagged_and_kept() -> None:
    stats, rows = run(lines_for(URLS))
    assert len(rows) == stats.total_rows == 30
    invalid = [r for r in rows if not r["_valid"]]
    assert [r["_errors"] for r in invalid] == [["name.required", "price.type"], ["name.required", "price.minimum"]]
    assert {r["_url"] for r in invalid} == {f"{SHOP}/invalid/p?rows=2"}
    assert invalid[0]["price"] == "N/A" and invalid[1]["price"] < 0 and invalid[0]["name"] is None
    for row in rows:  # the flags are exactly what jsonschema says of the row
        assert row["_errors"] == [rule for rule, _ in row_violations(PRODUCT, row)]
        assert row["_valid"] is (not row["_errors"]) and row["_status"] == 200
        assert list(row) == ["name", "price", "link", "_url", "_status", "_valid", "_errors"]
    # A plain page's rows are the emulator's, typed: name text, price a number, link the href.
    url = f"{SHOP}/p/3?rows=2"
    expected = [{"name": r["name"], "price": float(r["price"]), "link": r["link_link"]}
                for r in ImportioEmulator.expected_rows(url)]
    assert [{k: r[k] for k in ("name", "price", "link")} for r in rows if r["_url"] == url] == expected


def test_filtered_rows_are_counted_not_delivered() -> None:
    # With a schema of the name only, the invalid page's rows (empty names) have no value at all.
    names = Schema(slug="names", name="Names", fields=(Field("name", "STRING"),))
    stats, rows = run(lines_for([f"{SHOP}/invalid/p?rows=4", f"{SHOP}/p/1?rows=2", f"{SHOP}/nodata/1"]), names)
    assert (stats.extracted_rows, stats.filtered_rows, stats.total_rows) == (6, 4, 2)
    assert stats.to_dict()["filtered_pct"] == pytest.approx(100 * 4 / 6)
    assert stats.inputs_with_data == 1 and stats.no_data_200 == 2  # a page of filtered rows has no data
    assert stats.to_dict()["no_data_200_pct"] == pytest.approx(100 * 2 / 3)
    assert [r["_url"] for r in rows] == [f"{SHOP}/p/1?rows=2"] * 2


def test_rows_of_other_fields_and_blank_values() -> None:
    # An extractor with a field the schema lacks, and one without the schema's price field.
    odd = [{"name": "name", "type": "TEXT"}, {"name": "colour", "type": "TEXT"}]
    stats, rows = run(lines_for([f"{SHOP}/p/1?rows=1"], odd))
    assert rows[0]["price"] is None and rows[0]["link"] is None and "colour" not in rows[0]
    assert rows[0]["_valid"] and stats.valid_rows == 1


def test_duplicates_are_across_the_whole_snapshot() -> None:
    # The same URL twice in one file: its second page's rows all repeat the first page's.
    stats, _ = run(lines_for([f"{SHOP}/p/1?rows=3", f"{SHOP}/p/2?rows=2", f"{SHOP}/p/1?rows=3"]))
    assert (stats.total_rows, stats.duplicate_rows) == (8, 3)
    assert stats.to_dict()["duplicate_pct"] == pytest.approx(100 * 3 / 8)


def test_zero_inputs() -> None:
    for lines in ([], [b"\n", b"   \n", ""]):
        stats, rows = run(lines)
        values = stats.to_dict()
        assert rows == [] and set(values.values()) == {0.0}
        assert [n for n in values if n.startswith("validation_errors.")] == [
            f"validation_errors.{r}" for r in PRODUCT.rule_names]


def test_string_lines_and_bad_lines() -> None:
    text_lines = [line.decode("utf-8") for line in lines_for(URLS)]
    assert run(text_lines)[0] == run(lines_for(URLS))[0]
    with pytest.raises(ResultFileError, match="line 3 of the results is not JSON"):
        compute_statistics([b"{}", b"", b"{oops"], PRODUCT)
    with pytest.raises(ResultFileError, match="line 1 of the results is not a JSON object"):
        compute_statistics([b"[1, 2]"], PRODUCT)


def test_statistics_read_the_lines_as_parse_result_line_does() -> None:
    fields = normalise_fields([{"name": "name"}, {"name": "price"}, {"name": "link", "type": "LINK"}])
    reader = compile_row_reader(columns(PRODUCT))
    for n, url in enumerate(URLS):
        line = result_line(url, fields, n, 0)
        parsed = parse_result_line(json.dumps(line))
        url_, status, error_type, html, groups = scan_result_line(line)
        assert (url_, status, error_type, html, list(groups)) == (
            parsed.input_url, parsed.status_code, parsed.error_type, parsed.html_captured, parsed.groups)
        for group in page_rows(url, fields):
            flat = flatten_row(group)
            assert reader(group) == (flat.get("name"), flat.get("price"), flat.get("link_link") or flat.get("link"))
    # Several value objects in one field are joined, as in the CSV file.
    links = [{"text": "a", "href": "https://x/1"}, {"text": "b"}, {"text": "c", "href": "https://x/2"}]
    group = {"name": [{"text": "Big"}, {"text": "Kettle"}], "link": links}
    assert reader(group) == ("Big Kettle", None, "https://x/1 https://x/2")
    assert reader({"link": [{"text": "no href"}], "name": []}) == ("", None, "no href")


def test_coerce_text() -> None:
    cases = {
        ("NUMBER", "12"): 12, ("NUMBER", " 12 "): 12, ("NUMBER", "-3.50"): -3.5, ("NUMBER", "1e3"): 1000.0,
        ("NUMBER", "N/A"): "N/A", ("NUMBER", "nan"): "nan", ("NUMBER", "1_000"): "1_000", ("NUMBER", "inf"): "inf",
        ("NUMBER", "123456789012345678901234"): 1.2345678901234568e23, ("NUMBER", "1" * 5000): "1" * 5000,
        ("INTEGER", "+7"): 7, ("INTEGER", "7.0"): "7.0", ("INTEGER", "99999999999999999999"): "99999999999999999999",
        ("INTEGER", "9" * 5000): "9" * 5000, ("BOOLEAN", "TRUE"): True, ("BOOLEAN", " false"): False,
        ("BOOLEAN", "yes"): "yes", ("STRING", " padded "): " padded ", ("DATE", "2026-01-05"): "2026-01-05",
        ("STRING", ""): None, ("NUMBER", "  "): None, ("TEXT", None): None,
    }
    for (field_type, text), value in cases.items():
        result = coerce_text(field_type, text)
        assert result == value and type(result) is type(value), (field_type, text, result)


# -- the fast checks name exactly the rules jsonschema names ----------------------------------------

EVERY_RULE = Schema(slug="every-rule", name="Every rule", fields=(
    Field("code", "STRING", required=True, rules=FieldRules(pattern=r"^[A-Z]{2}", min_length=2, max_length=5,
                                                            enum=("AB", "ABC", "ABCDEF", "xyz"))),
    Field("note", "TEXT", rules=FieldRules(pattern="a|^b")),
    Field("price", "NUMBER", required=True, rules=FieldRules(minimum=0, maximum=100)),
    Field("count", "INTEGER", rules=FieldRules(minimum=1, maximum=10, enum=(1, 2, 3.0, True))),
    Field("flag", "BOOLEAN", rules=FieldRules(enum=(True,))),
    Field("url", "URL", required=True, rules=FieldRules(max_length=30)),
    Field("image", "IMAGE"),
    Field("day", "DATE", rules=FieldRules(pattern="^2026-")),
    Field("at", "DATETIME"),
))
VALUES: list[Any] = [
    None, "", " ", "AB", "ABC", "ABCDEF", "A", "ab", "xyz", "a", "ba", "b", "Q", "N/A", "12", "-3",
    0, 1, 2, 3, 5, 10, 11, -1, 100, 101, 1.0, 2.5, 3.0, -0.5, 100.5, float("nan"), float("inf"), Decimal("5"),
    True, False, [], ["AB"], {}, {"a": 1},
    "https://shop.example/p/1", "http://x", "ftp://x", "https:///x", "https://a b", "https://shop.example/" + "x" * 30,
    "https://ok.example/\n", "https://", "http://$x", "https://.x", "http://?x", "https://#", "HTTPS://x",
    "https://x\ty", "https://x\u00a0y", "https://bücher.example", "http:// x", "https:/x", "http://x/ ",
    "2026-01-05", "2025-12-31", "2026-13-01", "2026-01-05T10:30", "2026-01-05 10:30:00Z",
    "2026-01-05T25:00",
]


def _random_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        row: dict[str, Any] = {"_url": "https://shop.example/x"}
        for field in EVERY_RULE.fields:
            if rng.random() < 0.85:  # else the key is missing
                row[field.name] = rng.choice(VALUES)
        rows.append(row)
    return rows


def test_fast_checks_name_the_rules_jsonschema_names() -> None:
    validator = RowValidator(EVERY_RULE)
    broken: set[str] = set()
    for row in _random_rows(10_000, seed=6):
        expected = [rule for rule, _ in row_violations(EVERY_RULE, row)]
        assert validator.errors(row) == expected, row
        broken.update(expected)
    assert broken == set(EVERY_RULE.rule_names)  # every rule was exercised, failing


def test_typed_checks_name_the_rules_jsonschema_names() -> None:
    validator = RowValidator(EVERY_RULE)
    texts = [None, "", "  ", "AB", "ABCDEF", "a", "b", "xyz", "N/A", "12", "-3", "0", "1", "3", "3.0", "11", "1e1",
             "101", "nan", "true", "FALSE", "yes", "https://shop.example/p/1", "https://a b", "ftp://x",
             "https://shop.example/" + "x" * 30, "https://", "http://.x", "https://x\u00a0y", "https://bücher.example",
             "2026-01-05", "2026-13-01", "2026-01-05T10:30Z", "2025-12-31"]
    rng = random.Random(7)
    broken: set[str] = set()
    for _ in range(10_000):
        checked = validator.typed_row(tuple(rng.choice(texts) for _ in EVERY_RULE.fields))
        if checked is None:
            continue
        row, failed = checked
        expected = [rule for rule, _ in row_violations(EVERY_RULE, row)]
        assert (failed or []) == expected, row
        broken.update(expected)
    # Every rule fails somewhere, but the type of a text field: typed text is always a string.
    assert broken == set(EVERY_RULE.rule_names) - {"code.type", "note.type"}


def test_rule_names_agree_with_rule_name_of_jsonschema_errors() -> None:
    row = {"code": "a", "price": -1, "url": "nope"}
    names = sorted(rule_name(e) for e in row_validator(EVERY_RULE).iter_errors(row))
    assert sorted(RowValidator(EVERY_RULE).errors(row)) == names


# -- speed ---------------------------------------------------------------------------------------------

def test_rows_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    """Rows/second of the pass, of a bare ``orjson.loads`` loop over the same 100,000-line file and of
    ``json.loads`` + jsonschema per row (on the first 10,000 lines: it is that slow). Printed, not asserted."""
    lines = lines_for([f"{SHOP}/p/{n}" + ("/invalid" if n % 10 == 0 else "") for n in range(100_000)])
    rows = compute_statistics(lines, PRODUCT).total_rows

    def best(work: Any, repeat: int = 3) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    def orjson_loop() -> None:
        loads = orjson.loads
        for line in lines:
            loads(line)

    sample = lines[:10_000]
    sample_rows = compute_statistics(sample, PRODUCT).total_rows
    validator = row_validator(PRODUCT)

    def json_and_jsonschema() -> None:
        for line in sample:
            parsed = parse_result_line(json.loads(line))
            for row in parsed.flat_rows():
                typed = {name: coerce_text(f.type, (row.get(name + "_link") if href else None) or row.get(name))
                         for (name, href), f in zip(columns(PRODUCT), PRODUCT.fields)}
                [rule_name(e) for e in validator.iter_errors({**typed, "_url": parsed.input_url})]

    ours = rows / best(lambda: compute_statistics(lines, PRODUCT))
    ours_out = rows / best(lambda: compute_statistics(lines, PRODUCT, rows_out=lambda row: None))
    plain = rows / best(orjson_loop)
    slow = sample_rows / best(json_and_jsonschema, repeat=1)
    with capsys.disabled():
        print(f"\n{rows:,} rows from {len(lines):,} lines: compute_statistics {ours:,.0f} rows/s "
              f"({ours_out:,.0f} handing rows out), orjson.loads loop {plain:,.0f} rows/s, "
              f"json.loads + jsonschema {slow:,.0f} rows/s; time vs orjson {plain / ours:.2f}× "
              f"({plain / ours_out:.2f}×), speed-up over jsonschema {ours / slow:.1f}×")
    assert math.isfinite(ours) and ours > 0
