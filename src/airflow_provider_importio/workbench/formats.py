"""Streaming writers of a snapshot's rows in a destination format: JSON, NDJSON, CSV and XLSX.

Plain Python (no Airflow). Rows come in as the QA step's rows file has them (one object per output
row: the schema's fields plus ``_url``, ``_valid``, ``_errors``; an input without data is a marker
``{"_url": ..., "_no_data": true}``) and go out, as they come, to a binary file object, so memory
stays flat however large the snapshot is. The exact bytes (see ``docs/destinations.md``):

* **Columns**: ``_url`` (the input URL) first, then the schema's fields in order. Other keys of a
  row (``_valid``, ``_errors``, ``_pageNumber``, ...) are QA's business and are left out; a field a
  row lacks is ``null`` / empty. The name ``_url`` cannot clash with a field (fields never start with
  ``_``).
* **No-data inputs**: with ``blank_row_for_no_data`` a marker becomes a row with ``_url`` set and
  every field ``null`` / empty; without it the marker is left out.
* **Encoding**: UTF-8 without a byte-order mark. A lone surrogate (from a ``\\ud800`` escape) becomes
  U+FFFD, in every format.
* **JSON**: ``[\\n`` + one compact object per line joined by ``,\\n`` + ``\\n]\\n``; no rows: ``[]\\n``.
* **NDJSON**: one compact object per line, each ending ``\\n``.
* **CSV**: header row, then rows; ``csv`` module defaults: ``,``, ``"`` doubled inside quoted
  values, minimal quoting (a value with ``,``, ``"``, CR or LF is quoted), lines end ``\\r\\n``
  (RFC 4180). ``null`` is an empty value.
* **XLSX**: one sheet ``data`` (``data 2``, ``data 3``, ... past 1,048,575 data rows, each with the
  header), header row then rows, every value a text cell (a value starting with ``=`` is text, never
  a formula); ``null`` is an empty cell; characters XML forbids become U+FFFD; a value longer than
  32,767 characters (Excel's cell limit) is an error.

Values: strings as they are; in CSV and XLSX ``true``/``false`` for booleans and compact JSON for
numbers, objects and arrays (the rows file holds flattened strings, so these are rare); JSON and
NDJSON keep every value as it is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

FORMATS = ("JSON", "NDJSON", "CSV", "XLSX")
#: The input URL column, first in every format.
URL_COLUMN = "_url"
#: The key marking an input that produced no data.
NO_DATA_KEY = "_no_data"
#: MIME types, for the S3 object's ``Content-Type``.
CONTENT_TYPES = {
    "JSON": "application/json",
    "NDJSON": "application/x-ndjson",
    "CSV": "text/csv; charset=utf-8",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Rows per XLSX sheet, header included (Excel's limit).
XLSX_MAX_ROWS = 1_048_576
#: Characters per XLSX cell (Excel's limit).
XLSX_MAX_CELL_CHARS = 32_767
XLSX_SHEET = "data"
#: Bytes gathered before one write to the output.
FLUSH_BYTES = 1 << 20

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class WriteSummary:
    """What was written: data rows (blank rows included, header excluded), bytes, no-data inputs."""

    rows: int
    bytes: int
    no_data: int = 0


def columns(fields: Sequence[str]) -> list[str]:
    """The output columns: ``_url`` then the fields; :class:`ValueError` for a clash or a repeat."""
    names = [URL_COLUMN, *fields]
    if len(set(names)) != len(names):
        raise ValueError(f"field names repeat or clash with {URL_COLUMN!r}: {list(fields)}")
    return names


def output_rows(rows: Iterable[dict[str, Any]], fields: Sequence[str], *,
                blank_row_for_no_data: bool, counter: list[int] | None = None) -> Iterator[list[Any]]:
    """Each row's values in column order; no-data markers become blank rows or are left out.

    ``counter[0]`` (if given) counts the no-data inputs seen.
    """
    names = columns(fields)
    for row in rows:
        if row.get(NO_DATA_KEY):
            if counter is not None:
                counter[0] += 1
            if blank_row_for_no_data:
                yield [row.get(URL_COLUMN)] + [None] * len(fields)
            continue
        yield [row.get(name) for name in names]


def write_rows(rows: Iterable[dict[str, Any]], fmt: str, fields: Sequence[str], out: BinaryIO, *,
               blank_row_for_no_data: bool) -> WriteSummary:
    """Write ``rows`` to ``out`` in ``fmt`` (``JSON``, ``NDJSON``, ``CSV``, ``XLSX``), streaming."""
    fmt = fmt.upper()
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    names = columns(fields)
    no_data = [0]
    values = output_rows(rows, fields, blank_row_for_no_data=blank_row_for_no_data, counter=no_data)
    sink = _CountingWriter(out)
    writer = {"JSON": _write_json, "NDJSON": _write_ndjson, "CSV": _write_csv, "XLSX": _write_xlsx}[fmt]
    count = writer(values, names, sink)
    sink.flush()
    return WriteSummary(rows=count, bytes=sink.count, no_data=no_data[0])


# -- text formats ------------------------------------------------------------------------------


class _CountingWriter:
    """Gathers small writes into blocks of about :data:`FLUSH_BYTES` and counts the bytes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._parts: list[bytes] = []
        self._pending = 0
        self.count = 0

    def write(self, data: bytes) -> int:
        self._parts.append(data)
        self._pending += len(data)
        if self._pending >= FLUSH_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._parts:
            block = b"".join(self._parts)
            self._out.write(block)
            self.count += len(block)
            self._parts.clear()
            self._pending = 0


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _SURROGATES.sub("\ufffd", text).encode("utf-8")


def _json_line(names: list[str], values: list[Any]) -> bytes:
    return _utf8(json.dumps(dict(zip(names, values)), ensure_ascii=False, separators=(",", ":")))


def _write_ndjson(values: Iterator[list[Any]], names: list[str], sink: _CountingWriter) -> int:
    count = 0
    for row in values:
        sink.write(_json_line(names, row) + b"\n")
        count += 1
    return count


def _write_json(values: Iterator[list[Any]], names: list[str], sink: _CountingWriter) -> int:
    count = 0
    for row in values:
        sink.write((b"[\n" if count == 0 else b",\n") + _json_line(names, row))
        count += 1
    sink.write(b"\n]\n" if count else b"[]\n")
    return count


def text_value(value: Any) -> str | None:
    """A value as CSV/XLSX text: strings as they are, ``None`` stays ``None``, booleans
    ``true``/``false``, anything else compact JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _write_csv(values: Iterator[list[Any]], names: list[str], sink: _CountingWriter) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: ',', '"', QUOTE_MINIMAL, '\r\n'
    writer.writerow(names)
    count = 0
    for row in values:
        writer.writerow(["" if v is None else text_value(v) for v in row])
        count += 1
        if buffer.tell() >= FLUSH_BYTES:
            sink.write(_utf8(buffer.getvalue()))
            buffer.seek(0)
            buffer.truncate()
    sink.write(_utf8(buffer.getvalue()))
    return count


# -- XLSX --------------------------------------------------------------------------------------


def xlsx_text(value: Any, *, where: str = "a cell") -> str | None:
    """A value as XLSX cell text: :func:`text_value`, XML-illegal characters as U+FFFD; a value over
    :data:`XLSX_MAX_CELL_CHARS` characters raises :class:`ValueError`."""
    text = text_value(value)
    if text is None:
        return None
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("\ufffd", text)
    if len(text) > XLSX_MAX_CELL_CHARS:
        raise ValueError(f"{where} holds {len(text):,} characters; an XLSX cell holds at most "
                         f"{XLSX_MAX_CELL_CHARS:,} (deliver this collection as CSV or NDJSON)")
    return text


def _write_xlsx(values: Iterator[list[Any]], names: list[str], sink: _CountingWriter) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)  # rows go to a temporary file, not memory
    sheet: Any = None
    sheet_rows = XLSX_MAX_ROWS
    count = 0

    def cell(text: str | None) -> Any:
        if text is None or not text.startswith("="):
            return text
        formula_safe = WriteOnlyCell(sheet, value=text)
        formula_safe.data_type = "s"  # text, never a formula
        return formula_safe

    try:
        for row in values:
            if sheet_rows >= XLSX_MAX_ROWS:
                sheets = len(workbook.worksheets)
                sheet = workbook.create_sheet(XLSX_SHEET if not sheets else f"{XLSX_SHEET} {sheets + 1}")
                sheet.append([cell(xlsx_text(name)) for name in names])
                sheet_rows = 1
            count += 1
            sheet.append([cell(xlsx_text(v, where=f"row {count}, column {names[i]!r}")) for i, v in enumerate(row)])
            sheet_rows += 1
        if sheet is None:  # no rows: a sheet with the header only
            sheet = workbook.create_sheet(XLSX_SHEET)
            sheet.append([cell(xlsx_text(name)) for name in names])
        sink.flush()
        workbook.save(_ZipTarget(sink))
    except BaseException:
        _discard(workbook)
        raise
    return count


def _discard(workbook: Any) -> None:
    """Close a workbook that will not be saved and remove its sheets' temporary files."""
    for sheet in workbook.worksheets:
        writer = getattr(sheet, "_writer", None)
        if writer is None:
            continue
        try:
            sheet.close()
        except Exception:  # noqa: BLE001, S110 - half-written; only the temporary file matters
            pass
        try:
            writer.cleanup()
        except OSError:
            pass


class _ZipTarget(io.RawIOBase):
    """A write-only, non-seekable stream over the counting writer (``zipfile`` streams to it)."""

    def __init__(self, sink: _CountingWriter) -> None:
        super().__init__()
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._sink.write(bytes(data))

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:  # zipfile falls back to counting itself when tell() fails
        raise OSError("not seekable")
