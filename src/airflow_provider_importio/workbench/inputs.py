"""Picking up a delivery's input file: read, check, normalise and split Import.io extractor inputs.

Plain Python (no Airflow): the operator
:class:`~airflow_provider_importio.operators.input_pickup.ImportioInputPickupOperator` supplies the
stream (S3) and the chunk writer. See ``docs/inputs.md`` for the rules and messages.

* **Formats** (:func:`detect_input_format`): a JSON array of objects (first non-space byte ``[``),
  newline-delimited JSON objects (``{``), else plain text with one URL a line. A declared format
  (``json``, ``ndjson``, ``text``) overrides the detection.
* **Inputs** are normalised to Import.io's NDJSON shape ``{"_url": ..., **extra}``; ``url`` is an
  alias of ``_url``. Each URL must be an absolute ``http``/``https`` URL with a host. Bad inputs
  are counted and reported (:class:`PickupReport`), never silently dropped; a missing or empty
  file, a malformed JSON array, or a file whose every input is bad raises :class:`InputFileError`.
* **Chunks**: the ``n`` valid inputs are split, in order, into ``k = min(chunks, n)`` contiguous
  ranges; chunk ``i`` holds inputs ``[i·n//k, (i+1)·n//k)`` (sizes differ by at most one). Valid
  inputs are spooled to a local temporary file first, so memory stays flat however large the input.
* **Staging**: one object a pickup (:data:`STAGED_NAME`), the chunks' NDJSON as consecutive gzip
  members; a chunk descriptor names the object and its member's ``byte_range``. Decompressed whole,
  the object is every valid input in order.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, BinaryIO, ContextManager, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_importio.workbench import record_files, templates
from airflow_provider_importio.workbench.windows import ChunkWindow, delivery_windows

#: Input file formats: a JSON array, newline-delimited JSON, plain text (one URL a line).
INPUT_FORMATS = ("json", "ndjson", "text")
_FORMAT_ALIASES = {"jsonl": "ndjson", "txt": "text"}
BLOCK_BYTES = 1 << 20
#: A line longer than this is a bad input; it is skipped without being held in memory.
MAX_LINE_BYTES = 1 << 20
#: How many bad inputs a report keeps as examples (all are counted).
MAX_EXAMPLES = 100
#: How many examples the "every input is invalid" message quotes.
MESSAGE_EXAMPLES = 5
PREVIEW_CHARS = 80
#: The staged object: each chunk's NDJSON gzip-compressed (25× fewer bytes to upload for plain URLs),
#: one gzip member after another, so one upload stages them all and a chunk is one ranged read
#: (:func:`~airflow_provider_importio.hooks.object_source.open_uri` with ``byte_range``).
STAGED_NAME = "chunks.ndjson.gz"
#: Chunk files that versions before the single staged object wrote, one a chunk, for clean-up.
CHUNK_NAME_RE = re.compile(r"chunk-\d{4,}\.ndjson(?:\.gz)?")
#: What each chunk writer reads of the spool at a time: small, as several run at once.
WRITER_BLOCK_BYTES = 1 << 18
#: zlib level 1: ~400 MB/s here; higher levels halve the speed for ~5% fewer bytes.
CHUNK_COMPRESS_LEVEL = 1
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_BAD_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
#: The common case, accepted without ``urlsplit``: scheme, a plain host name, then a path, query or nothing.
_PLAIN_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9][A-Za-z0-9.-]*(?:[/?#][^\s\x00-\x1f\x7f]*)?")
#: The same for a text line's bytes, limited to printable ASCII without ``"`` and ``\\`` (nothing to escape in JSON).
_PLAIN_URL_BYTES = re.compile(rb"[hH][tT][tT][pP][sS]?://[A-Za-z0-9][A-Za-z0-9.-]*(?:[/?#][!#-\[\]-~]*)?")
#: Lines of such URLs joined by ``\n``: a block checked in one match instead of one a line. The
#: repeat is possessive (Python 3.11+): a greedy one keeps backtracking state for every line, ~9 MB
#: for a 1 MB block. Python 3.10 has no possessive repeats, and checks a line at a time.
_PLAIN_URL_LINES = (re.compile(_PLAIN_URL_BYTES.pattern + rb"(?:\n" + _PLAIN_URL_BYTES.pattern + rb")*+")
                    if sys.version_info >= (3, 11) else None)
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_QUOTE = json.encoder.encode_basestring  # what _DUMPS does to a string, without its per-call overhead


class InputFileError(ValueError):
    """The input file cannot be used: missing, empty, malformed, or every input in it is bad."""


@dataclass(frozen=True)
class BadInput:
    """One bad input: where it is (``line 7``, ``item 3``) and why it was refused."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class PickupReport:
    """What a pickup read: inputs seen (``total``), ``valid`` and ``bad``; the first bad ones as examples."""

    uri: str
    format: str = ""
    total: int = 0
    valid: int = 0
    bad: int = 0
    examples: list[BadInput] = field(default_factory=list)

    def add_bad(self, where: str, reason: str) -> None:
        self.total += 1
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(BadInput(where, reason))

    def summary(self) -> str:
        """``1000000 inputs in s3://b/k (text): 999998 valid, 2 bad``."""
        return f"{self.total} inputs in {self.uri} ({self.format or 'unread'}): {self.valid} valid, {self.bad} bad"

    def bad_lines(self, limit: int | None = None) -> str:
        """The examples as ``line 3: reason; line 9: reason; and 40 more``."""
        shown = self.examples[:limit] if limit is not None else self.examples
        text = "; ".join(map(str, shown))
        if self.bad > len(shown):
            text += f"; and {self.bad - len(shown)} more"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "format": self.format, "total": self.total, "valid": self.valid, "bad": self.bad,
                "examples": [{"where": e.where, "reason": e.reason} for e in self.examples]}


class InputItem(NamedTuple):
    """One input of the file: where it is, the normalised input (``None`` if bad), and why it is bad."""

    where: str
    input: dict[str, Any] | None
    reason: str | None


@dataclass(frozen=True)
class InputChunk:
    """A chunk descriptor: the staged object (``None``: the extractor's default inputs) and the
    ``[start, end)`` byte range of the chunk's gzip member in it (``None``: the whole object), how
    many inputs it holds, the offset of its first input among the valid ones, and its collect window."""

    index: int
    uri: str | None
    count: int | None
    first_input: int
    start: datetime
    collect_by: datetime
    byte_range: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (XCom): datetimes as ISO 8601 strings, the byte range as a two-item list."""
        return {"index": self.index, "uri": self.uri,
                "byte_range": list(self.byte_range) if self.byte_range else None, "count": self.count,
                "first_input": self.first_input, "start": self.start.isoformat(),
                "collect_by": self.collect_by.isoformat()}


@dataclass(frozen=True)
class Pickup:
    """The outcome of :func:`pickup_inputs`."""

    report: PickupReport
    chunks: list[InputChunk]


# --------------------------------------------------------------------------- input URI templates


def input_uri_variables(moment: datetime, variables: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The variables of an input URI template for a delivery starting at ``moment`` (aware).

    Time variables (``YYYY``, ``MM``, ``DD``, ``HH``, ``ww``, ``GGGG``; UTC) come from ``moment``;
    ``variables`` adds (or overrides) any of :data:`~airflow_provider_importio.workbench.templates.INPUT_VARIABLES`
    — ``flow``, ``collection``, ``project``, ``source``, ``bucketname``. ``None`` values are left out.
    """
    values = {k: v for k, v in templates.time_variables(moment).items() if k in templates.INPUT_VARIABLES}
    unknown = sorted(set(variables or {}) - templates.INPUT_VARIABLES)
    if unknown:
        known = ", ".join(sorted(templates.INPUT_VARIABLES, key=str.lower))
        raise ValueError(f"unknown input URI variable(s) {', '.join(map(repr, unknown))}; known: {known}")
    values.update({k: str(v) for k, v in (variables or {}).items() if v is not None})
    return values


def expand_input_uri(template: str, moment: datetime, variables: Mapping[str, Any] | None = None) -> str:
    """``template`` (``s3://{bucketname}/:YYYY/:ww/:source/inputs.json``) expanded for the delivery."""
    problems = templates.check_template(template, "input")
    if problems:
        raise templates.TemplateError(f"input URI template {template!r}: {problems[0]}")
    return templates.render(template, input_uri_variables(moment, variables))


# --------------------------------------------------------------------------- reading and checking


def normalise_format(declared: str | None) -> str:
    """``auto`` or one of :data:`INPUT_FORMATS` (``jsonl`` and ``txt`` are aliases)."""
    fmt = (declared or "auto").lower()
    fmt = _FORMAT_ALIASES.get(fmt, fmt)
    if fmt != "auto" and fmt not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {declared!r}; expected auto, {', '.join(INPUT_FORMATS)}")
    return fmt


def detect_input_format(head: bytes, declared: str | None = "auto") -> str:
    """The format of a file starting with ``head``: the declared one, else by the first non-space byte."""
    fmt = normalise_format(declared)
    if fmt != "auto":
        return fmt
    first = head.removeprefix(_BOM).lstrip(_WHITESPACE)[:1]
    return {b"[": "json", b"{": "ndjson"}.get(first, "text")


def check_url(value: Any) -> str | None:
    """Why ``value`` is not an absolute http(s) URL with a host, or ``None`` if it is one."""
    if not isinstance(value, str):
        return f"the URL {_preview(value)} is not a string"
    if _PLAIN_URL.fullmatch(value):
        return None
    if not value:
        return "the URL is empty"
    if not value[:8].lower().startswith(("http://", "https://")):
        return f"{_preview(value)} is not an absolute http(s) URL"
    if _BAD_URL_CHARS.search(value):
        return f"{_preview(value)} contains whitespace or a control character"
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        return f"{_preview(value)} is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return f"{_preview(value)} is not an absolute http(s) URL"
    return None


def check_input(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``(normalised input, None)`` or ``(None, reason)`` for one JSON value of an NDJSON line or array item.

    The URL is the object's ``_url``, else its ``url``; the result is ``{"_url": <url>, **other fields}``
    (when ``_url`` is set, a ``url`` field is kept as an ordinary extra input). Surrounding whitespace of
    the URL is removed.
    """
    if not isinstance(value, dict):
        return None, f"{_preview(value)} is not a JSON object"
    key = "_url" if value.get("_url") is not None else "url" if value.get("url") is not None else None
    if key is None:
        return None, f'{_preview(value)} has no "_url" (or "url") field'
    url = value[key]
    if isinstance(url, str):
        url = url.strip()
    reason = check_url(url)
    if reason:
        return None, reason
    normalised = {"_url": url}
    normalised.update((k, v) for k, v in value.items() if k != key and k != "_url")
    return normalised, None


def check_text_input(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """``({"_url": url}, None)`` or ``(None, reason)`` for one line of a plain-text file."""
    url = line.strip()
    reason = check_url(url)
    return (None, reason) if reason else ({"_url": url}, None)


def iter_inputs(stream: BinaryIO, *, name: str = "<stream>", fmt: str = "auto") -> Iterator[InputItem]:
    """Each input of the file, checked and normalised, in order (blank lines are not inputs).

    ``where`` is ``line N`` (from 1) in NDJSON and text files, ``item N`` (from 0, as in JSON) in a
    JSON array. Raises :class:`InputFileError` for an empty file or a malformed JSON array.
    """
    detected, replay, first_line = _peek_format(stream, name, fmt)
    label = "item" if detected == "json" else "line"
    for position, line, reason, _ in _encoded_inputs(replay, detected, first_line, name):
        yield InputItem(f"{label} {position}", json.loads(line) if line is not None else None, reason)


def _peek_format(stream: BinaryIO, name: str, fmt: str) -> tuple[str, BinaryIO, int]:
    """Read until the first non-space byte; the format, a replaying stream, and the first line's number."""
    declared = normalise_format(fmt)
    skipped_lines = 0
    first = True
    while True:
        block = stream.read(BLOCK_BYTES)
        if not block:
            raise InputFileError(f"{name} is empty")
        probe = block.removeprefix(_BOM) if first else block
        first = False
        if probe.lstrip(_WHITESPACE):
            break
        skipped_lines += probe.count(b"\n")  # a run of whitespace is dropped, not held
    return detect_input_format(probe, declared), _Replay(block, stream), skipped_lines + 1


#: The inputs of a file as ``(line number or item index, the normalised input as an NDJSON line, None, 1)``
#: or ``(position, None, reason, 1)``: the hot path, which builds no dicts or labels for plain URLs. With
#: ``runs``, a run of ``count`` consecutive plain-URL lines of a text file may come as one item
#: ``(first line number, their NDJSON lines, None, count)``.
_Encoded = Iterator[tuple[int, "bytes | None", "str | None", int]]


def _encoded_inputs(stream: BinaryIO, fmt: str, first_line: int, name: str, *, runs: bool = False) -> _Encoded:
    if fmt == "json":
        return _array_inputs(stream, name)
    return _line_inputs(stream, fmt == "ndjson", first_line, runs=runs)


def _array_inputs(stream: BinaryIO, name: str) -> _Encoded:
    index = -1
    try:
        for index, (_, value) in enumerate(record_files.iter_json_array(stream, name=name)):
            normalised, reason = check_input(value)
            yield index, (_encode(normalised) if normalised is not None else None), reason, 1
    except record_files.RecordFileError as exc:
        raise InputFileError(str(exc)) from None
    if index < 0:
        raise InputFileError(f"{name} is empty (an empty JSON array)")


def _line_inputs(stream: BinaryIO, ndjson: bool, first_line: int, *, runs: bool = False) -> _Encoded:
    plain = _PLAIN_URL_BYTES.fullmatch
    line_no = first_line
    for lines in _bounded_blocks(stream):
        if runs and not ndjson and lines and None not in lines:
            # A text file's block of plain URLs (the usual case) is checked and encoded in C: one
            # regex match over the block's lines, one replace; any other block (a bad or blank
            # line, spaces to strip, a byte-order mark) goes line by line.
            urls = _without_cr(lines) if lines[0][-1:] == b"\r" else lines
            encoded = _encode_plain_urls(urls)  # type: ignore[arg-type]
            if encoded is not None:
                yield line_no, encoded, None, len(urls)
                line_no += len(urls)
                continue
        first_of_block, line_no = line_no, line_no + len(lines)
        for number, raw in enumerate(lines, start=first_of_block):
            if raw is None:
                yield number, None, f"the line is longer than {MAX_LINE_BYTES} bytes", 1
                continue
            if number == first_line:
                raw = raw.removeprefix(_BOM)
            stripped = raw.strip(_WHITESPACE)
            if not stripped:
                continue
            if not ndjson:
                if plain(stripped):  # nothing to escape: the NDJSON line is the bytes themselves
                    yield number, b'{"_url":"%s"}\n' % stripped, None, 1
                    continue
                try:
                    text = stripped.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, None, f"not valid UTF-8: {_preview(_text(stripped))}", 1
                    continue
                normalised, reason = check_text_input(text)
            else:
                try:
                    value = json.loads(raw)  # unstripped, so an error's column is the file's
                except ValueError as exc:
                    yield number, None, f"not valid JSON ({_json_error(exc)}): {_preview(_text(stripped))}", 1
                    continue
                normalised, reason = check_input(value)
            yield number, (_encode(normalised) if normalised is not None else None), reason, 1


def _encode_plain_urls(urls: list[bytes]) -> bytes | None:
    """The NDJSON lines of a block of plain URLs, or ``None`` when any line is not one."""
    if _PLAIN_URL_LINES is None:
        if not all(map(_PLAIN_URL_BYTES.fullmatch, urls)):
            return None
        return b'{"_url":"' + b'"}\n{"_url":"'.join(urls) + b'"}\n'
    joined = b"\n".join(urls)
    if not _PLAIN_URL_LINES.fullmatch(joined):
        return None
    return b'{"_url":"' + joined.replace(b"\n", b'"}\n{"_url":"') + b'"}\n'


def _without_cr(lines: list[bytes]) -> list[bytes]:
    """The lines without a ``\\r`` ending them (a CRLF file's), as stripping would leave them."""
    return (b"\n".join(lines) + b"\n").replace(b"\r\n", b"\n")[:-1].split(b"\n")


def _encode(normalised: dict[str, Any]) -> bytes:
    """One compact NDJSON line (UTF-8, non-ASCII kept) with its newline."""
    if len(normalised) == 1:
        return ('{"_url":%s}\n' % _QUOTE(normalised["_url"])).encode("utf-8")
    return (_DUMPS(normalised) + "\n").encode("utf-8")


def _bounded_blocks(stream: BinaryIO) -> Iterator[list[bytes | None]]:
    """The lines of each block read, without their ``\\n``; ``None`` for a line over
    :data:`MAX_LINE_BYTES` (not held whole)."""
    rest = b""
    overlong = False
    while block := stream.read(BLOCK_BYTES):
        lines: list[bytes | None] = block.split(b"\n")  # type: ignore[assignment]
        if rest:  # the line the last block left unfinished (rest + block would copy the whole block)
            lines[0] = rest + lines[0]  # type: ignore[operator]
        rest = lines.pop()  # type: ignore[assignment]
        if overlong and lines:
            lines[0], overlong = None, False
        if lines and max(map(len, filter(None, lines)), default=0) > MAX_LINE_BYTES:
            lines = [line if line is None or len(line) <= MAX_LINE_BYTES else None for line in lines]
        yield lines
        if overlong or len(rest) > MAX_LINE_BYTES:
            overlong, rest = True, b""
    if overlong:
        yield [None]
    elif rest:
        yield [rest]


class _Replay:
    """A binary stream: ``head`` first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head: bytes | None = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head is not None:
            head, self._head = self._head, None
            return head
        return self._stream.read(size)


# --------------------------------------------------------------------------- chunking


def chunk_bounds(n: int, chunks: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each non-empty chunk of ``n`` inputs split into ``chunks``: contiguous, in order.

    ``k = min(chunks, n)`` chunks; chunk ``i`` is ``[i·n//k, (i+1)·n//k)``, so sizes differ by at most one.
    """
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"chunks must be an integer ≥ 1, not {chunks!r}")
    k = min(chunks, n)
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def chunk_windows(start: datetime, *, data_hours: float, chunk_collect_hours: float | None = None,
                  chunks: int = 1, has_inputs: bool = True) -> tuple[ChunkWindow, ...]:
    """The collect windows of a delivery's chunks (see :mod:`~airflow_provider_importio.workbench.windows`).

    ``has_inputs=False`` is a flow without ``inputUriTemplate``: one chunk collected within ``data_hours``.
    """
    definition = SimpleNamespace(input_uri_template="inputs" if has_inputs else None,
                                 chunks=chunks if has_inputs else None, chunk_collect_hours=chunk_collect_hours)
    flow = SimpleNamespace(data_hours=data_hours, push_hours=data_hours, close_hours=data_hours, definition=definition)
    return delivery_windows(flow, start).chunks  # type: ignore[arg-type]


def default_inputs_chunk(start: datetime, *, data_hours: float) -> InputChunk:
    """The single chunk of a delivery without an input file: the extractor runs its own default inputs."""
    window = chunk_windows(start, data_hours=data_hours, has_inputs=False)[0]
    return InputChunk(index=0, uri=None, count=None, first_input=0, start=window.start, collect_by=window.collect_by)


def spool_inputs(stream: BinaryIO, spool: BinaryIO, *, name: str, fmt: str = "auto",
                 progress: Callable[[PickupReport], None] | None = None,
                 progress_every: int = 100_000) -> PickupReport:
    """Write each valid input to ``spool`` as one compact NDJSON line; the report of what was read.

    Raises :class:`InputFileError` when the file is empty, a JSON array is malformed, or every input is bad.
    """
    detected, replay, first_line = _peek_format(stream, name, fmt)
    report = PickupReport(uri=name, format=detected)
    label = "item" if detected == "json" else "line"
    write = spool.write
    next_progress = progress_every
    for position, line, reason, count in _encoded_inputs(replay, detected, first_line, name, runs=True):
        if line is None:
            report.add_bad(f"{label} {position}", reason or "invalid")
        else:
            report.total += count
            report.valid += count
            write(line)
        if progress is not None and report.total >= next_progress:  # each time a multiple is reached or passed
            progress(report)
            next_progress = (report.total // progress_every + 1) * progress_every
    if report.total == 0:
        raise InputFileError(f"{name} is empty")
    if report.valid == 0:
        head = (f"the one input in {name} is invalid" if report.total == 1
                else f"every one of the {report.total} inputs in {name} is invalid")
        raise InputFileError(f"{head}: {report.bad_lines(MESSAGE_EXAMPLES)}")
    return report


def pickup_inputs(
    open_stream: Callable[[], ContextManager[BinaryIO]],
    *,
    name: str,
    chunks: int,
    stage: Callable[[str], str],
    start: datetime,
    data_hours: float,
    chunk_collect_hours: float | None = None,
    fmt: str = "auto",
    progress: Callable[[PickupReport], None] | None = None,
    progress_every: int = 100_000,
    workdir: str | None = None,
    writers: int = 1,
) -> Pickup:
    """Read the input file, spool its valid inputs, and stage them as balanced chunks in one object.

    ``open_stream()`` opens the file (a ``FileNotFoundError`` becomes "``name`` does not exist", another
    ``OSError`` "``name`` cannot be read: <reason>");
    ``stage(local_path)`` stores the staged file (named :data:`STAGED_NAME`: each chunk's NDJSON a gzip
    member, in order) and returns its URI; each chunk descriptor carries its member's byte range.
    Chunks are compressed in ``writers`` worker threads, each from its byte range of the spool, while
    the main thread finds the next ranges and appends finished members in order; a failure stops the
    pickup with that error once the compressions under way end. The
    windows come from the delivery ``start``, ``data_hours``, ``chunk_collect_hours`` and ``chunks``
    (chunk ``i`` gets window ``i`` of the flow's ``chunks`` windows, also when fewer chunks are made).
    """
    windows = chunk_windows(start, data_hours=data_hours, chunk_collect_hours=chunk_collect_hours, chunks=chunks)
    with tempfile.TemporaryDirectory(prefix="importio-inputs-", dir=workdir) as tmp:
        spool_path = os.path.join(tmp, "valid.ndjson")
        with contextlib.ExitStack() as stack:
            try:
                stream = stack.enter_context(open_stream())
            except FileNotFoundError as exc:
                raise InputFileError(f"{name} does not exist") from exc
            except OSError as exc:  # a directory, no permission, ...: say so, not a bare OSError
                raise InputFileError(f"{name} cannot be read: {exc.strerror or exc}") from exc
            with open(spool_path, "wb") as spool:
                try:
                    report = spool_inputs(stream, spool, name=name, fmt=fmt, progress=progress,
                                          progress_every=progress_every)
                except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # a broken ``.gz`` input file
                    raise InputFileError(f"{name} is not a readable gzip file: {exc}") from exc
        bounds = chunk_bounds(report.valid, chunks)
        staged_path = os.path.join(tmp, STAGED_NAME)
        ranges = _stage_members(spool_path, staged_path, [end - first for first, end in bounds], tmp, writers)
        uri = stage(staged_path)
    staged = [InputChunk(index=index, uri=uri, count=end - first, first_input=first, start=windows[index].start,
                         collect_by=windows[index].collect_by, byte_range=member)
              for index, ((first, end), member) in enumerate(zip(bounds, ranges))]
    return Pickup(report=report, chunks=staged)


def _stage_members(spool_path: str, staged_path: str, counts: list[int], tmp: str,
                   writers: int) -> list[tuple[int, int]]:
    """Write each run of ``counts[i]`` spool lines to ``staged_path`` as one gzip member, in order; the
    ``[start, end)`` byte range of each member. Members are compressed in ``writers`` threads (zlib and
    file reads let go of the GIL) into part files, appended here as they finish in order."""
    ranges: list[tuple[int, int]] = []

    def compress(index: int, start: int, end: int) -> str:
        part = os.path.join(tmp, f"part-{index:04d}.gz")
        _gzip_range(spool_path, start, end, part)
        return part

    def append(part: str) -> None:
        offset = staged.tell()
        with open(part, "rb") as member:
            shutil.copyfileobj(member, staged, WRITER_BLOCK_BYTES)
        os.unlink(part)
        ranges.append((offset, staged.tell()))

    with open(spool_path, "rb") as spool, open(staged_path, "wb") as staged, ThreadPoolExecutor(
            max_workers=writers, thread_name_prefix="chunk-writer") as pool:
        pending: deque[Future[str]] = deque()
        try:
            lines = _LineOffsets(spool)
            start = 0
            for index, count in enumerate(counts):
                if len(pending) > writers:  # a chunk or two ahead of the writers, not all of them
                    append(pending.popleft().result())
                stop = lines.after(count)
                pending.append(pool.submit(compress, index, start, stop))
                start = stop
            while pending:
                append(pending.popleft().result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return ranges


class _LineOffsets:
    """Where the spool's lines end: :meth:`after` moves past ``count`` more lines, a block at a time."""

    def __init__(self, spool: BinaryIO) -> None:
        self._spool = spool
        self._buffer = b""
        self._offset = 0  # of the buffer's end in the spool

    def after(self, count: int) -> int:
        """The byte offset just past the next ``count`` lines."""
        while count:
            if not self._buffer:
                self._buffer = self._spool.read(BLOCK_BYTES)
                if not self._buffer:
                    raise EOFError(f"the spool ended {count} lines early")
                self._offset += len(self._buffer)
            lines = self._buffer.count(b"\n")
            if lines <= count:
                self._buffer = b""
                count -= lines
            else:  # the range ends inside this block: after its count-th newline
                self._buffer = self._buffer.split(b"\n", count)[-1]
                count = 0
        return self._offset - len(self._buffer)


# --------------------------------------------------------------------------- helpers


def _gzip_range(source: str, start: int, end: int, target: str) -> None:
    """Bytes ``[start, end)`` of ``source``, gzip-compressed into ``target``."""
    with open(source, "rb") as plain, gzip.open(target, "wb", compresslevel=CHUNK_COMPRESS_LEVEL) as packed:
        plain.seek(start)
        left = end - start
        while left > 0:
            block = plain.read(min(WRITER_BLOCK_BYTES, left))
            if not block:
                raise EOFError(f"{source} ended {left} bytes before the chunk's end")
            packed.write(block)
            left -= len(block)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 3] + "..."


def _text(raw: bytes) -> str:
    return raw[:PREVIEW_CHARS * 4].decode("utf-8", "replace")


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)
