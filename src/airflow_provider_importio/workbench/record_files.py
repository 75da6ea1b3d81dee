"""Streaming readers for record files: newline-delimited JSON and JSON arrays.

Both read a binary stream a block at a time (an S3 ``StreamingBody``, an open file), so memory
stays flat however large the file is. Errors name where they are: the line of an NDJSON file,
the item and character offset of a JSON array.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

BLOCK_BYTES = 1 << 20
#: One array item may span at most this many characters (a malformed file must not be read whole).
MAX_ITEM_CHARS = 64 << 20
FORMATS = ("ndjson", "json")
_WHITESPACE = " \t\r\n"


class RecordFileError(ValueError):
    """A record file is malformed; the message says where."""


def detect_format(name: str, declared: str | None = None) -> str:
    """``ndjson`` or ``json``: the declared format, else from the name (``.json`` is an array)."""
    if declared and declared.lower() != "auto":
        fmt = declared.lower()
        if fmt not in FORMATS:
            raise ValueError(f"unknown record file format {declared!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    lowered = name.lower()
    if lowered.endswith((".ndjson", ".jsonl", ".jsonlines")):
        return "ndjson"
    if lowered.endswith(".json"):
        return "json"
    raise ValueError(f"cannot tell the format of {name!r} from its name; set the format to 'ndjson' or 'json'")


def iter_records(stream: BinaryIO, fmt: str, *, name: str = "<stream>") -> Iterator[dict[str, Any]]:
    """Each object of the file, in order; anything but an object raises :class:`RecordFileError`."""
    values = iter_ndjson(stream, name=name) if fmt == "ndjson" else iter_json_array(stream, name=name)
    for where, value in values:
        if not isinstance(value, dict):
            raise RecordFileError(f"{name}: {where} is a {type(value).__name__}, not a JSON object")
        yield value


def iter_ndjson(stream: BinaryIO, *, name: str = "<stream>") -> Iterator[tuple[str, Any]]:
    """``("line N", value)`` for each non-blank line."""
    line_no = 0
    for line_no, raw in enumerate(iter_lines(stream), start=1):
        if not raw.strip():
            continue
        try:
            yield f"line {line_no}", json.loads(raw)
        except ValueError as exc:
            raise RecordFileError(f"{name}: line {line_no} is not valid JSON ({exc})") from None


def iter_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary stream (without their newline), read a block at a time.

    A line split across blocks is joined from its pieces; the blocks themselves are never joined
    (``rest + block`` copied a megabyte per block, into fresh pages, which cost as much as the split).
    """
    head: list[bytes] = []  # the start of a line that the blocks read so far have not ended
    while block := stream.read(BLOCK_BYTES):
        lines = block.split(b"\n")
        if head and len(lines) > 1:
            head.append(lines[0])
            lines[0] = b"".join(head)
            head = []
        last = lines.pop()
        yield from lines
        if last:
            head.append(last)
    if head:
        yield b"".join(head)


def iter_json_array(stream: BinaryIO, *, name: str = "<stream>") -> Iterator[tuple[str, Any]]:
    """``("item N", value)`` for each element of a top-level JSON array, decoded incrementally."""
    reader = _TextBlocks(stream)
    decoder = json.JSONDecoder()
    buf, pos = reader.fill("", 0)
    if pos >= len(buf) or buf[pos] != "[":
        raise RecordFileError(f"{name}: expected a JSON array ('[' at the start), found {buf[pos:pos + 20]!r}")
    pos += 1
    index = 0
    expect_value = False
    while True:
        buf, pos = reader.fill(buf, pos)
        if pos >= len(buf):
            raise RecordFileError(f"{name}: the JSON array is not closed (after item {index})")
        if buf[pos] == "]" and not expect_value:
            buf, pos = reader.fill(buf, pos + 1)
            if pos < len(buf):
                raise RecordFileError(f"{name}: unexpected data after the JSON array at offset {reader.offset(pos)}")
            return
        value, buf, pos = _decode_one(decoder, reader, buf, pos, name, index)
        yield f"item {index}", value
        index += 1
        buf, pos = reader.fill(buf, pos)
        if pos < len(buf) and buf[pos] == ",":
            pos += 1
            expect_value = True
        elif pos < len(buf) and buf[pos] == "]":
            expect_value = False
        else:
            found = buf[pos:pos + 20] if pos < len(buf) else "the end of the file"
            raise RecordFileError(f"{name}: expected ',' or ']' after item {index - 1}, found {found!r}")


def _decode_one(decoder: json.JSONDecoder, reader: _TextBlocks, buf: str, pos: int, name: str,
                index: int) -> tuple[Any, str, int]:
    """Decode the value at ``pos``, reading more until it is followed by a delimiter or EOF."""
    while True:
        try:
            value, end = decoder.raw_decode(buf, pos)
        except ValueError as exc:
            if reader.more() and len(buf) - pos <= MAX_ITEM_CHARS:
                buf = reader.extend(buf)
                continue
            raise RecordFileError(f"{name}: item {index} at offset {reader.offset(pos)} is not valid JSON ({exc})") from None
        after = end
        while after < len(buf) and buf[after] in _WHITESPACE:
            after += 1
        # A number cut at the block's end ("-0." of "-0.5") decodes as a shorter one: read on
        # until a delimiter follows the value (or the file ends).
        if (after >= len(buf) or buf[after] not in ",]") and reader.more() and len(buf) - pos <= MAX_ITEM_CHARS:
            buf = reader.extend(buf)
            continue
        return value, buf, end


class _TextBlocks:
    """UTF-8 text of a binary stream, a block at a time, with the consumed prefix dropped."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._eof = False
        self._dropped = 0

    def more(self) -> bool:
        return not self._eof

    def extend(self, buf: str) -> str:
        block = self._stream.read(BLOCK_BYTES)
        if not block:
            self._eof = True
            return buf + self._decoder.decode(b"", final=True)
        return buf + self._decoder.decode(block)

    def fill(self, buf: str, pos: int) -> tuple[str, int]:
        """Skip whitespace from ``pos``, reading on as needed; drop what lies before it."""
        while True:
            while pos < len(buf) and buf[pos] in _WHITESPACE:
                pos += 1
            if pos < len(buf) or self._eof:
                break
            buf = self.extend(buf)
        if pos > BLOCK_BYTES:
            self._dropped += pos
            buf, pos = buf[pos:], 0
        return buf, pos

    def offset(self, pos: int) -> int:
        return self._dropped + pos
