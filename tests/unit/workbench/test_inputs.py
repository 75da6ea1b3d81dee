"""Input pickup: formats, normalisation, checks, messages, balanced chunks, windows and flat memory."""

from __future__ import annotations

import contextlib
import gzip
import datetime as dt
import io
import json
import os
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_importio.workbench import inputs
from airflow_provider_importio.workbench.inputs import (
    InputFileError,
    PickupReport,
    check_input,
    check_url,
    chunk_bounds,
    detect_input_format,
    expand_input_uri,
    iter_inputs,
    pickup_inputs,
)
from airflow_provider_importio.workbench.templates import TemplateError

START = dt.datetime(2026, 1, 5, 6, tzinfo=dt.timezone.utc)  # ISO week 02 of 2026
NAME = "s3://b/k"


def items(data: bytes, fmt: str = "auto") -> list[tuple[str, dict | None, str | None]]:
    return [tuple(item) for item in iter_inputs(io.BytesIO(data), name=NAME, fmt=fmt)]


def run(data: bytes, chunks: int = 3, fmt: str = "auto", **kwargs) -> tuple[inputs.Pickup, dict[int, bytes]]:
    """Pick ``data`` up; the plain NDJSON of each chunk, each read from its byte range of the staged file."""
    staged: list[bytes] = []

    def stage(path: str) -> str:
        assert path.endswith("chunks.ndjson.gz")
        with open(path, "rb") as handle:
            staged.append(handle.read())
        return "s3://stage/chunks.ndjson.gz"

    pickup = pickup_inputs(lambda: contextlib.nullcontext(io.BytesIO(data)), name=NAME, chunks=chunks,
                           stage=stage, start=START, fmt=fmt, **{"data_hours": 1, **kwargs})
    assert len(staged) == 1  # one object, however many chunks
    written = {c.index: gzip.decompress(staged[0][c.byte_range[0]:c.byte_range[1]]) for c in pickup.chunks}
    for chunk in pickup.chunks:
        assert written[chunk.index].count(b"\n") == chunk.count
    ends = [0] + [c.byte_range[1] for c in pickup.chunks]
    assert [c.byte_range[0] for c in pickup.chunks] == ends[:-1] and ends[-1] == len(staged[0])  # back to back
    assert gzip.decompress(staged[0]) == b"".join(written[i] for i in sorted(written))  # members, in order
    return pickup, written


def lines(written: dict[int, bytes]) -> list[dict]:
    return [json.loads(line) for index in sorted(written) for line in written[index].splitlines()]


# --------------------------------------------------------------------------- formats and normalisation


@pytest.mark.parametrize(
    ("head", "declared", "expected"),
    [
        (b'[{"_url": "https://a"}]', "auto", "json"),
        (b'\xef\xbb\xbf \n\t[', "auto", "json"),
        (b'  {"_url": "https://a"}', "auto", "ndjson"),
        (b"https://a.example/\n", "auto", "text"),
        (b"# not a comment", None, "text"),
        (b'{"_url": "https://a"}', "text", "text"),
        (b"https://a", "jsonl", "ndjson"),
        (b"[", "NDJSON", "ndjson"),
    ],
)
def test_format_is_detected_from_the_first_non_space_byte_unless_declared(head, declared, expected):
    assert detect_input_format(head, declared) == expected


def test_unknown_declared_format_is_refused():
    with pytest.raises(ValueError, match="unknown input format 'csv'"):
        detect_input_format(b"x", "csv")


def test_the_three_formats_give_the_same_normalised_inputs():
    objects = [{"_url": "https://a.example/1", "sku": "A1"}, {"url": "https://a.example/2", "q": {"x": [1]}},
               {"_url": "https://a.example/3", "url": "https://other.example/"}]
    expected = [{"_url": "https://a.example/1", "sku": "A1"}, {"_url": "https://a.example/2", "q": {"x": [1]}},
                {"_url": "https://a.example/3", "url": "https://other.example/"}]
    as_array = json.dumps(objects, indent=2).encode()
    as_lines = "\n".join(json.dumps(o) for o in objects).encode()
    assert [i[1] for i in items(as_array)] == expected
    assert [i[1] for i in items(as_lines)] == expected
    assert [i[0] for i in items(as_array)] == ["item 0", "item 1", "item 2"]
    assert [i[0] for i in items(as_lines)] == ["line 1", "line 2", "line 3"]
    text = b"\xef\xbb\xbf\r\n  https://a.example/1  \r\n\r\nhttps://a.example/2\n"
    assert items(text) == [("line 2", {"_url": "https://a.example/1"}, None),
                           ("line 4", {"_url": "https://a.example/2"}, None)]


def test_url_alias_and_key_order():
    normalised, reason = check_input({"q": 1, "url": " https://a.example/x "})
    assert reason is None and list(normalised) == ["_url", "q"] and normalised["_url"] == "https://a.example/x"
    normalised, _ = check_input({"_url": None, "url": "https://a.example/"})
    assert normalised == {"_url": "https://a.example/"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("foo", "'foo' is not an absolute http(s) URL"),
        ("ftp://a.example/x", "'ftp://a.example/x' is not an absolute http(s) URL"),
        ("http:///x", "'http:///x' is not an absolute http(s) URL"),
        ("//a.example/x", "'//a.example/x' is not an absolute http(s) URL"),
        ("https://a.example/x y", "'https://a.example/x y' contains whitespace or a control character"),
        ("https://a.example:99999/", "'https://a.example:99999/' is not a valid URL (Port out of range 0-65535)"),
        ("", "the URL is empty"),
        (12, "the URL 12 is not a string"),
    ],
)
def test_bad_urls_say_why(value, reason):
    assert check_url(value) == reason


@pytest.mark.parametrize("url", ["https://a.example", "HTTP://A.EXAMPLE/x?y=1#z", "https://a.example:8443/",
                                 "https://user@a.example/", "https://[::1]/x", "https://bücher.example/ä"])
def test_good_urls(url):
    assert check_url(url) is None


def test_every_bad_line_kind_is_reported_with_its_line_number():
    data = (b'{"_url": "https://a.example/1"}\n'
            b'{"_url": "https://a.example/2", "x": \n'
            b'[1, 2]\n'
            b'"https://a.example/3"\n'
            b'{"sku": "no url"}\n'
            b'{"_url": "mailto:x@y"}\n'
            b'\n'
            b'{"url": "https://a.example/4"}\n')
    got = items(data)
    assert [(w, r) for w, _, r in got if r] == [
        ("line 2", "not valid JSON (Expecting value at column 38): "
                   "'{\"_url\": \"https://a.example/2\", \"x\":'"),
        ("line 3", "[1, 2] is not a JSON object"),
        ("line 4", "'https://a.example/3' is not a JSON object"),
        ("line 5", "{'sku': 'no url'} has no \"_url\" (or \"url\") field"),
        ("line 6", "'mailto:x@y' is not an absolute http(s) URL"),
    ]
    assert [w for w, i, _ in got if i] == ["line 1", "line 8"]


def test_overlong_lines_are_bad_inputs_not_held(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 14)
    monkeypatch.setattr(inputs, "BLOCK_BYTES", 4)
    got = items(b"https://a.io\nhttps://b.example.com/very/long\nhttps://c.io")
    assert got == [("line 1", {"_url": "https://a.io"}, None), ("line 2", None, "the line is longer than 14 bytes"),
                   ("line 3", {"_url": "https://c.io"}, None)]
    assert items(b"https://a.io\nhttps://b.example.com/very/long")[1] == ("line 2", None, "the line is longer than 14 bytes")


def test_invalid_utf8_text_line_is_a_bad_input():
    assert items(b"https://a.io\n\xff\xfe\n", "text")[1] == ("line 2", None, "not valid UTF-8: '\ufffd\ufffd'")


# --------------------------------------------------------------------------- file-level outcomes and messages


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "s3://b/k is empty"),
        (b"  \n\r\n\t\n", "s3://b/k is empty"),
        (b"\xef\xbb\xbf", "s3://b/k is empty"),
        (b" [ ] ", "s3://b/k is empty (an empty JSON array)"),
        (b'[{"_url": "https://a.io"}, {"_url": tru}]', "s3://b/k: item 1 at offset 27 is not valid JSON (Expecting value: line 1 column 37"),
        (b'[{"_url": "https://a.io"}', "s3://b/k: expected ',' or ']' after item 0, found 'the end of the file'"),
        (b"foo", "the one input in s3://b/k is invalid: line 1: 'foo' is not an absolute http(s) URL"),
    ],
)
def test_file_level_errors(data, message):
    with pytest.raises(InputFileError) as err:
        run(data)
    assert str(err.value).startswith(message)


def test_every_line_bad_names_the_count_and_the_first_five():
    data = "\n".join(["foo", "{", *[f"bad{i}" for i in range(10)]]).encode()
    with pytest.raises(InputFileError) as err:
        run(data, fmt="text")
    assert str(err.value) == (
        "every one of the 12 inputs in s3://b/k is invalid: line 1: 'foo' is not an absolute http(s) URL; "
        "line 2: '{' is not an absolute http(s) URL; line 3: 'bad0' is not an absolute http(s) URL; "
        "line 4: 'bad1' is not an absolute http(s) URL; line 5: 'bad2' is not an absolute http(s) URL; and 7 more")


def test_a_pretty_printed_object_is_ndjson_and_every_line_is_bad():
    with pytest.raises(InputFileError, match=r"^every one of the 3 inputs in s3://b/k is invalid: line 1: not valid JSON"):
        run(b'{\n  "_url": "https://a.io"\n}\n')


def test_missing_file():
    def missing():
        raise FileNotFoundError("s3://b/k does not exist (NoSuchKey)")

    with pytest.raises(InputFileError) as err:
        pickup_inputs(missing, name=NAME, chunks=2, stage=lambda path: "", start=START, data_hours=1)
    assert str(err.value) == "s3://b/k does not exist"


def test_partly_bad_file_succeeds_and_reports_all_bad_lines_keeping_the_first_hundred():
    urls = [f"https://a.example/{i}" if i % 3 else f"bad {i}" for i in range(1000)]
    pickup, written = run("\n".join(urls).encode(), chunks=4, fmt="text")
    report = pickup.report
    assert (report.total, report.valid, report.bad) == (1000, 666, 334)
    assert len(report.examples) == 100 and str(report.examples[1]) == "line 4: 'bad 3' is not an absolute http(s) URL"
    assert [line["_url"] for line in lines(written)] == [u for u in urls if not u.startswith("bad")]
    assert report.summary() == "1000 inputs in s3://b/k (text): 666 valid, 334 bad"
    assert report.bad_lines(2).endswith("; and 332 more")
    assert report.to_dict()["examples"][0] == {"where": "line 1", "reason": "'bad 0' is not an absolute http(s) URL"}


# --------------------------------------------------------------------------- chunking and descriptors


@pytest.mark.parametrize(("n", "k"), [(1, 1), (10, 3), (100, 7), (48, 48), (1000, 48), (7, 10), (3, 100)])
def test_chunk_bounds_are_contiguous_balanced_and_non_empty(n, k):
    bounds = chunk_bounds(n, k)
    sizes = [end - start for start, end in bounds]
    assert len(bounds) == min(n, k) and min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert chunk_bounds(n, k) == bounds


def test_chunk_bounds_refuse_bad_counts():
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="chunks must be an integer"):
            chunk_bounds(10, bad)


def test_chunks_hold_exactly_the_valid_inputs_in_order_and_are_deterministic():
    objects = [{"_url": f"https://a.example/{i}", "n": i} for i in range(10)]
    data = json.dumps(objects[:5] + [{"sku": 1}] + objects[5:]).encode()
    first, written = run(data, chunks=3)
    assert lines(written) == objects
    assert [(c.index, c.count, c.first_input) for c in first.chunks] == [(0, 3, 0), (1, 3, 3), (2, 4, 6)]
    assert {c.uri for c in first.chunks} == {"s3://stage/chunks.ndjson.gz"}
    assert written[0] == b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objects[:3])
    again, written_again = run(data, chunks=3)
    assert again == first and written_again == written


def test_fewer_inputs_than_chunks_makes_only_non_empty_chunks_in_the_first_windows():
    pickup, written = run(b"https://a.io/1\nhttps://a.io/2\n", chunks=5, data_hours=5, chunk_collect_hours=1)
    assert [(c.index, c.count, c.first_input) for c in pickup.chunks] == [(0, 1, 0), (1, 1, 1)]
    assert [c.start for c in pickup.chunks] == [START, START + dt.timedelta(hours=1)]
    assert len(written) == 2


def test_descriptor_windows_follow_the_flow():
    # production example of the guide: D=12, N=48, C=1 → a chunk every 11h/47, each collected within 1 h
    urls = "\n".join(f"https://a.example/{i}" for i in range(96)).encode()
    pickup, _ = run(urls, chunks=48, data_hours=12, chunk_collect_hours=1)
    described = [c.to_dict() for c in pickup.chunks]
    assert described[0] == {"index": 0, "uri": "s3://stage/chunks.ndjson.gz", "byte_range": [0, described[1]["byte_range"][0]],
                            "count": 2, "first_input": 0,
                            "start": "2026-01-05T06:00:00+00:00", "collect_by": "2026-01-05T07:00:00+00:00"}
    assert described[-1]["start"] == "2026-01-05T17:00:00+00:00" and described[-1]["collect_by"] == "2026-01-05T18:00:00+00:00"
    json.dumps(described)


def test_default_inputs_chunk():
    chunk = inputs.default_inputs_chunk(START, data_hours=2).to_dict()
    assert chunk == {"index": 0, "uri": None, "byte_range": None, "count": None, "first_input": 0,
                     "start": "2026-01-05T06:00:00+00:00", "collect_by": "2026-01-05T08:00:00+00:00"}


def test_collect_window_longer_than_data_hours_is_refused_before_reading():
    with pytest.raises(ValueError, match="chunkCollectHours must not exceed dataHours"):
        run(b"https://a.io", data_hours=1, chunk_collect_hours=2)


# --------------------------------------------------------------------------- input URI templates


def test_input_uri_template_expands_the_guides_variables():
    variables = {"bucketname": "inputs-bkt", "source": "shop-a", "flow": "daily", "collection": "products",
                 "project": "retail"}
    assert expand_input_uri("s3://{bucketname}/:YYYY/:ww/:source/inputs.json", START, variables) == \
        "s3://inputs-bkt/2026/02/shop-a/inputs.json"
    assert expand_input_uri("s3://b/{project}/{collection}/{flow}/:YYYY-:MM-:DD/:HH/w:GGGG-:ww.txt", START, variables) == \
        "s3://b/retail/products/daily/2026-01-05/06/w2026-02.txt"
    assert expand_input_uri("s3://b/already/expanded.json", START) == "s3://b/already/expanded.json"
    # 2027-01-01 is in ISO week 53 of 2026
    assert expand_input_uri("s3://b/:GGGG/:ww/:YYYY", dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)) == "s3://b/2026/53/2027"


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("s3://{bucketname}/x", {}, "no value for variable 'bucketname'"),
        ("s3://b/{bucket}/x", {}, "unknown variable 'bucket'"),
        ("s3://b/:mm/x", {}, "unknown variable 'mm'"),
    ],
)
def test_input_uri_template_errors(template, variables, message):
    with pytest.raises(TemplateError, match=message):
        expand_input_uri(template, START, variables)


def test_unknown_variable_names_are_refused():
    with pytest.raises(ValueError, match="unknown input URI variable"):
        expand_input_uri("s3://b/x", START, {"bukket": "x"})


# --------------------------------------------------------------------------- memory


class GeneratedUrls(io.RawIOBase):
    """``blocks × 10,000`` distinct URLs, one a line, made a block at a time as they are read (never held whole).

    Each block is one template with its block number filled in, so making the stream allocates next to
    nothing and tracemalloc measures the pickup, not the test's generator.
    """

    TEMPLATE = b"".join(b"https://shop-BBBB.example.com/products/item-%05d?ref=feed\n" % i for i in range(10_000))

    def __init__(self, blocks: int) -> None:
        self._blocks = blocks
        self._next = 0
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        if not self._buf:
            if self._next == self._blocks:
                return 0
            self._buf = memoryview(self.TEMPLATE.replace(b"BBBB", b"%04d" % self._next))
            self._next += 1
        size = min(len(target), len(self._buf))
        target[:size] = self._buf[:size]
        self._buf = self._buf[size:]
        return size


def test_a_million_urls_are_picked_up_in_flat_memory(record_property, capsys):
    sizes: list[int] = []

    def stage(path: str) -> str:
        sizes.append(os.path.getsize(path))
        return "s3://stage/chunks.ndjson.gz"

    def opened() -> Iterator[io.BufferedReader]:
        return contextlib.nullcontext(io.BufferedReader(GeneratedUrls(100), 1 << 16))

    tracemalloc.start()
    began = time.perf_counter()
    try:
        pickup = pickup_inputs(opened, name="generated", chunks=48, stage=stage, start=START,
                               data_hours=12, chunk_collect_hours=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - began
    assert pickup.report == PickupReport(uri="generated", format="text", total=1_000_000, valid=1_000_000)
    counts = [c.count for c in pickup.chunks]
    assert sum(counts) == 1_000_000 and max(counts) - min(counts) <= 1 and len(counts) == 48
    assert len(sizes) == 1 and pickup.chunks[-1].byte_range[1] == sizes[0]
    record_property("peak_traced_mb", round(peak / 1e6, 2))
    with capsys.disabled():
        print(f"\n1,000,000 URLs: traced peak {peak / 1e6:.1f} MB, {seconds:.1f} s (under tracemalloc)")
    assert peak < 32e6


# --------------------------------------------------------------------------- the block fast path ≡ line by line

_LINES = st.one_of(
    st.sampled_from([b"https://a.example/p/1", b"HTTP://b.example?x=1", b"https://c.example/\xc3\xa9", b"", b"  ",
                     b"https://d.example/ok\r", b" https://e.example/pad ", b"not a url", b"ftp://x", b"\xff\xfe",
                     b"\xef\xbb\xbfhttps://bom.example/", b'https://q.example/"quoted"', b"https://x.example/a\rb",
                     b"https://long.example/" + b"x" * 40]),
    st.builds(lambda n: b"https://shop-%d.example.com/item-%d" % (n, n), st.integers(0, 10**6)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINES, max_size=60), st.sampled_from([b"\n", b"\r\n"]), st.booleans(),
       st.sampled_from([7, 64, 1 << 20]), st.booleans())
def test_spooling_plain_url_blocks_at_once_equals_line_by_line(monkeypatch, lines, newline, final, block, one_match):
    """The spool checks and encodes a block of plain URLs at once: the same bytes and report as one
    line at a time (small blocks and a small line limit, to cross block bounds and overlong lines);
    with one regex match a block (Python 3.11+) or one a line (Python 3.10)."""
    monkeypatch.setattr(inputs, "BLOCK_BYTES", block)
    if not one_match:
        monkeypatch.setattr(inputs, "_PLAIN_URL_LINES", None)
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 48)
    data = newline.join(lines) + (newline if final else b"")
    detected, replay, first = inputs._peek_format(io.BytesIO(data), NAME, "text") if data.strip(
        b" \t\r\n\xef\xbb\xbf") else (None, None, None)
    one_by_one = list(inputs._encoded_inputs(replay, detected, first, NAME)) if detected else []
    valid = [line for _, line, _, _ in one_by_one if line is not None]
    bad = [inputs.BadInput(f"line {n}", reason) for n, line, reason, _ in one_by_one if line is None]
    spool = io.BytesIO()
    try:
        report = inputs.spool_inputs(io.BytesIO(data), spool, name=NAME, fmt="text")
    except InputFileError:
        assert not valid
        return
    assert spool.getvalue() == b"".join(valid)
    assert (report.total, report.valid, report.bad, report.examples) == (len(valid) + len(bad), len(valid), len(bad),
                                                                          bad[:inputs.MAX_EXAMPLES])
