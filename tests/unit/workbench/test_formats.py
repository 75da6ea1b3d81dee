"""The destination formats: exact bytes (golden files), streaming, XLSX cells and limits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest

from airflow_provider_importio.workbench import formats
from airflow_provider_importio.workbench.formats import WriteSummary, write_rows
from airflow_provider_importio.workbench.record_files import iter_records

GOLDEN = Path(__file__).resolve().parents[2] / "resources" / "golden"
FIELDS = ["name", "price", "description", "image"]


def golden_rows() -> list[dict]:
    with open(GOLDEN / "snapshot-rows.ndjson", "rb") as stream:
        return list(iter_records(stream, "ndjson"))


def written(rows, fmt: str, fields=FIELDS, *, blank: bool = True) -> tuple[bytes, WriteSummary]:
    out = io.BytesIO()
    summary = write_rows(rows, fmt, fields, out, blank_row_for_no_data=blank)
    return out.getvalue(), summary


def cells(data: bytes) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return {sheet.title: [[c.value for c in row] for row in sheet.iter_rows()] for sheet in book}


@pytest.mark.parametrize("fmt", ["JSON", "NDJSON", "CSV"])
def test_text_formats_match_the_golden_files_byte_for_byte(fmt):
    data, summary = written(golden_rows(), fmt)
    assert data == (GOLDEN / f"snapshot.{fmt.lower()}").read_bytes()
    assert summary == WriteSummary(rows=6, bytes=len(data), no_data=1)


def test_without_blank_rows_the_no_data_input_is_left_out():
    data, summary = written(golden_rows(), "CSV", blank=False)
    assert data == (GOLDEN / "snapshot-no-blank-rows.csv").read_bytes()
    assert (summary.rows, summary.no_data) == (5, 1)


def test_xlsx_matches_the_golden_workbook_cell_by_cell():
    data, summary = written(golden_rows(), "XLSX")
    assert cells(data) == cells((GOLDEN / "snapshot.xlsx").read_bytes())
    assert summary.rows == 6 and summary.bytes == len(data)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["data"]
    assert sheet["C5"].value == "=1+2" and sheet["C5"].data_type == "s"  # text, not a formula
    assert sheet["D7"].value == "bell \ufffd and slash /"  # BEL is not allowed in XML


def test_the_golden_files_say_what_the_docs_say():
    csv_text = (GOLDEN / "snapshot.csv").read_bytes()
    assert csv_text.startswith(b"_url,name,price,description,image\r\n") and not csv_text.startswith(b"\xef\xbb\xbf")
    assert b'"Comma, ""quoted"" widget","1,299.00","Line one\nLine two\r\nLine three",\r\n' in csv_text
    assert b"https://shop.example/p/3,,,,\r\n" in csv_text  # the blank row of an input without data
    json_text = (GOLDEN / "snapshot.json").read_bytes()
    assert json_text.startswith(b'[\n{"_url":') and json_text.endswith(b"}\n]\n")
    assert "Café 日本 😀".encode() in json_text  # UTF-8, not \u escapes
    assert all(list(json.loads(line)) == ["_url", *FIELDS]
               for line in (GOLDEN / "snapshot.ndjson").read_text().splitlines())


def test_no_rows():
    assert written([], "JSON")[0] == b"[]\n"
    assert written([], "NDJSON")[0] == b""
    assert written([], "CSV")[0] == b"_url,name,price,description,image\r\n"
    assert cells(written([], "XLSX")[0]) == {"data": [["_url", *FIELDS]]}


def test_values_that_are_not_strings():
    row = {"_url": "u", "name": True, "price": 12.5, "description": {"a": [1, "é"]}, "image": None}
    assert written([row], "CSV")[0].splitlines()[1] == 'u,true,12.5,"{""a"":[1,""é""]}",'.encode()
    assert json.loads(written([row], "NDJSON")[0]) == {"_url": "u", "name": True, "price": 12.5,
                                                       "description": {"a": [1, "é"]}, "image": None}
    assert cells(written([row], "XLSX")[0])["data"][1] == ["u", "true", "12.5", '{"a":[1,"é"]}', None]


def test_a_lone_surrogate_becomes_a_replacement_character():
    row = json.loads('{"_url": "u", "name": "a\\ud800b"}')
    for fmt in ("JSON", "NDJSON", "CSV"):
        assert "a\ufffdb".encode() in written([row], fmt)[0]
    assert cells(written([row], "XLSX")[0])["data"][1][1] == "a\ufffdb"


def test_xlsx_rolls_over_to_a_new_sheet_with_its_header(monkeypatch):
    monkeypatch.setattr(formats, "XLSX_MAX_ROWS", 3)  # header + 2 rows per sheet
    rows = [{"_url": f"u{i}", "name": str(i)} for i in range(5)]
    data, summary = written(rows, "XLSX", ["name"])
    assert summary.rows == 5
    assert cells(data) == {"data": [["_url", "name"], ["u0", "0"], ["u1", "1"]],
                           "data 2": [["_url", "name"], ["u2", "2"], ["u3", "3"]],
                           "data 3": [["_url", "name"], ["u4", "4"]]}


def test_an_xlsx_cell_over_excels_limit_is_an_error():
    with pytest.raises(ValueError, match=r"row 1, column 'name' holds 32,768 characters"):
        written([{"_url": "u", "name": "x" * 32_768}], "XLSX", ["name"])


def test_fields_may_not_clash_with_the_url_column():
    with pytest.raises(ValueError, match="clash"):
        written([], "CSV", ["_url"])
    with pytest.raises(ValueError, match="unknown format"):
        written([], "PARQUET")


@pytest.mark.parametrize("fmt", ["JSON", "NDJSON", "CSV"])
def test_rows_are_written_as_they_come(fmt):
    out = io.BytesIO()
    seen_output: list[int] = []

    def rows():
        for i in range(40_000):  # ~4 MB: several flushes before the last row is read
            if i == 39_999:
                seen_output.append(out.tell())
            yield {"_url": f"https://shop.example/{i}", "name": "n" * 80}

    summary = write_rows(rows(), fmt, ["name"], out, blank_row_for_no_data=False)
    assert seen_output[0] >= 3 * formats.FLUSH_BYTES and summary.bytes == len(out.getvalue())
