"""Streaming NDJSON and JSON-array readers."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_importio.workbench import record_files
from airflow_provider_importio.workbench.record_files import RecordFileError, detect_format, iter_records

ROWS = [{"id": i, "name": f"n{i}", "price": i * 1.5, "tags": ["a", {"b": None}], "text": "é, ] [ \" {"} for i in range(50)]


def read(data: bytes, fmt: str) -> list[dict]:
    return list(iter_records(io.BytesIO(data), fmt, name="rows.x"))


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_json_array_and_ndjson_read_the_same_rows_whatever_the_block_size(monkeypatch, block):
    monkeypatch.setattr(record_files, "BLOCK_BYTES", block)
    as_array = json.dumps(ROWS, indent=1, ensure_ascii=False).encode()
    as_lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode() + b"\n\n"
    assert read(as_array, "json") == ROWS
    assert read(as_lines, "ndjson") == ROWS


def test_numbers_split_across_blocks_are_not_truncated(monkeypatch):
    monkeypatch.setattr(record_files, "BLOCK_BYTES", 3)
    values = list(record_files.iter_json_array(io.BytesIO(b'[{"a":1},12345678,-0.5e10 , true]')))
    assert [v for _, v in values] == [{"a": 1}, 12345678, -0.5e10, True]


def test_utf8_bom_and_empty_array():
    assert read(b"\xef\xbb\xbf[]", "json") == []
    assert read(b"\xef\xbb\xbf" + json.dumps(ROWS[:1]).encode(), "json") == ROWS[:1]


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b'{"a":1}\n{"a":\n', "ndjson", "rows.x: line 2 is not valid JSON"),
        (b'{"a":1}\n[1]\n', "ndjson", "rows.x: line 2 is a list, not a JSON object"),
        (b'{"a":1}', "json", "expected a JSON array"),
        (b'[{"a":1} {"a":2}]', "json", "expected ',' or ']' after item 0"),
        (b'[{"a":1},', "json", "not closed (after item 1)"),
        (b'[{"a":1}', "json", "expected ',' or ']' after item 0, found 'the end of the file'"),
        (b'[{"a":1},{"a":tru}]', "json", "item 1 at offset 9 is not valid JSON"),
        (b'[{"a":1}] x', "json", "unexpected data after the JSON array at offset 10"),
        (b'[{"a":1},]', "json", "item 1 at offset 9 is not valid JSON"),
        (b"[1]", "json", "item 0 is a int, not a JSON object"),
    ],
)
def test_malformed_files_say_where(data, fmt, message):
    with pytest.raises(RecordFileError) as err:
        read(data, fmt)
    assert message in str(err.value)


def test_format_detection():
    assert detect_format("s3://b/k/rows.ndjson") == "ndjson"
    assert detect_format("/x/rows.jsonl") == "ndjson"
    assert detect_format("rows.JSON") == "json"
    assert detect_format("rows.bin", "NDJSON") == "ndjson"
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format("rows.csv")
    with pytest.raises(ValueError, match="unknown record file format 'csv'"):
        detect_format("rows.json", "csv")


def test_memory_stays_flat_for_a_large_array():
    row = json.dumps({"id": 1, "text": "x" * 200}).encode()
    count = 60_000  # about 13 MB

    class Gen(io.RawIOBase):
        def __init__(self):
            self.parts = itertools.chain([b"["], (row + b"," for _ in range(count - 1)), [row + b"]"])
            self.pending = b""

        def readable(self):
            return True

        def read(self, n=-1):
            while len(self.pending) < n:
                part = next(self.parts, None)
                if part is None:
                    break
                self.pending += part
            out, self.pending = self.pending[:n], self.pending[n:]
            return out

    tracemalloc.start()
    seen = sum(1 for _ in iter_records(Gen(), "json"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seen == count
    assert peak < 8 * 2**20, f"peak {peak} bytes for a {count * len(row)} byte file"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=60).map(lambda data: data.replace(b"\x00", b"\n")), st.integers(1, 9))
def test_lines_are_the_newline_split_whatever_the_block_size(monkeypatch, data, block):
    """Lines spread over several blocks, blank lines, a last line without a newline: as ``split``."""
    monkeypatch.setattr(record_files, "BLOCK_BYTES", block)
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert list(record_files.iter_lines(io.BytesIO(data))) == expected
