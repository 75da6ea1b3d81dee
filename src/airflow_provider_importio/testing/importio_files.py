"""Result files of crawl runs and report runs, built from the page model.

The ``json``, ``sample``, ``csv`` and ``log`` files are generators of bytes so a large run is
streamed line by line and never held in memory; ``xlsx`` and ``files`` (a zip) are built in
memory (keep them to small runs).
"""

from __future__ import annotations

import csv
import html
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from airflow_provider_importio.clients.importio_results import LINK_SUFFIX, flatten_row
from airflow_provider_importio.testing._server import NDJSON_TYPE
from airflow_provider_importio.testing.importio_pages import (
    is_link,
    outcome_rows,
    page_outcome,
    resource_id,
    result_line,
)

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"
#: Lines in the ``sample`` file.
SAMPLE_LINES = 10
#: Column of a change report telling whether a row was ADDED or REMOVED.
CHANGE_COLUMN = "change"
ADDED, REMOVED = "ADDED", "REMOVED"

_BOM = "\ufeff"
_FLUSH_CHARS = 32 * 1024
_COMPACT = json.JSONEncoder(separators=(",", ":"))

Table = tuple[list[str], Iterable[Sequence[str]]]


@dataclass(frozen=True)
class RunSource:
    """What a crawl run's files are derived from: its inputs, the fields and its start time."""

    inputs: Sequence[Mapping[str, Any]]
    fields: Sequence[Mapping[str, Any]]
    started_ms: int

    def urls(self) -> Iterator[str]:
        return (str(item["_url"]) for item in self.inputs)


def result_lines(source: RunSource) -> Iterator[dict[str, Any]]:
    """The ``json`` file's lines, lazily."""
    for sequence, url in enumerate(source.urls()):
        yield result_line(url, source.fields, sequence, source.started_ms)


def ndjson_bytes(objects: Iterable[Any]) -> Iterator[bytes]:
    encode = _COMPACT.encode
    for obj in objects:
        yield (encode(obj) + "\n").encode("utf-8")


def json_file(source: RunSource) -> Iterator[bytes]:
    return ndjson_bytes(result_lines(source))


def sample_file(source: RunSource) -> Iterator[bytes]:
    return ndjson_bytes(islice(result_lines(source), SAMPLE_LINES))


def columns(fields: Sequence[Mapping[str, Any]]) -> list[str]:
    """``url``, then each field, with ``<field>_link`` right after a link field."""
    header = ["url"]
    for item in fields:
        header.append(str(item["name"]))
        if is_link(item):
            header.append(str(item["name"]) + LINK_SUFFIX)
    return header


def flat_rows(source: RunSource) -> Iterator[dict[str, str]]:
    """Every output row of the run, flattened, with its input ``url`` first."""
    for url in source.urls():
        for row in outcome_rows(page_outcome(url), source.fields):
            yield {"url": url, **flatten_row(row)}


def _cells(header: Sequence[str], rows: Iterable[Mapping[str, str]]) -> Iterator[list[str]]:
    return ([row.get(name, "") for name in header] for row in rows)


def run_table(source: RunSource) -> Table:
    header = columns(source.fields)
    return header, _cells(header, flat_rows(source))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = True) -> Iterator[bytes]:
    """A CSV file, every value quoted, yielded in pieces; UTF-8 with BOM unless ``bom=False``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    if bom:
        buffer.write(_BOM)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= _FLUSH_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def csv_file(source: RunSource) -> Iterator[bytes]:
    return csv_bytes(*run_table(source))


def log_file(source: RunSource) -> Iterator[bytes]:
    """The run's log: ``Url``, ``Success`` (0/1), ``Message`` per input URL."""
    rows = ([url, *_log_cells(url)] for url in source.urls())
    return csv_bytes(["Url", "Success", "Message"], rows, bom=False)


def _log_cells(url: str) -> tuple[str, str]:
    success, message = page_outcome(url).log_entry()
    return str(int(success)), message


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "Data") -> bytes:
    """The table as an Excel workbook (built in memory)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def xlsx_file(source: RunSource) -> bytes:
    return xlsx_bytes(*run_table(source))


def files_zip(source: RunSource) -> bytes:
    """A zip with one small HTML capture per page whose HTML was captured, plus ``index.json``."""
    out = io.BytesIO()
    index = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for sequence, url in enumerate(source.urls()):
            outcome = page_outcome(url)
            if not outcome.html_captured:
                continue
            name = f"{sequence:06d}-{resource_id(url)}.html"
            archive.writestr(name, _capture(url, outcome.status_code, outcome_rows(outcome, source.fields)))
            index.append({"url": url, "file": name, "statusCode": outcome.status_code, "sequenceNumber": sequence})
        archive.writestr("index.json", json.dumps(index, indent=1))
    return out.getvalue()


def _capture(url: str, status: int | None, rows: Sequence[Mapping[str, Any]]) -> str:
    items = "".join(
        "<li>" + " | ".join(html.escape(flatten_row(row).get(name, "")) for name in row) + "</li>" for row in rows
    )
    return (
        f"<!DOCTYPE html><html><head><title>{html.escape(url)}</title></head>"
        f"<body><h1>HTTP {status}</h1><ul>{items}</ul></body></html>"
    )


@dataclass(frozen=True)
class FileKind:
    """How one of a crawl run's files is built and served."""

    build: Callable[[RunSource], bytes | Iterator[bytes]]
    content_type: str
    extension: str


#: A crawl run's files by ``fileType``, in the order of the run's attachment ids.
CRAWL_FILES: dict[str, FileKind] = {
    "json": FileKind(json_file, NDJSON_TYPE, "json"),
    "csv": FileKind(csv_file, CSV_TYPE, "csv"),
    "xlsx": FileKind(xlsx_file, XLSX_TYPE, "xlsx"),
    "log": FileKind(log_file, CSV_TYPE, "log.csv"),
    "sample": FileKind(sample_file, NDJSON_TYPE, "sample.json"),
    "files": FileKind(files_zip, ZIP_TYPE, "zip"),
}


# -- report runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    """A finished report run's content: one table, plus the change set of a CHANGE report."""

    header: list[str]
    rows: list[list[str]]
    summary: dict[str, int]
    change: dict[str, list[dict[str, str]]] | None = None


def _difference(rows: Sequence[dict[str, str]], minus: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """``rows`` minus ``minus`` as multisets, keeping the order of ``rows``."""
    remaining = Counter(tuple(sorted(row.items())) for row in minus)
    kept = []
    for row in rows:
        key = tuple(sorted(row.items()))
        if remaining[key]:
            remaining[key] -= 1
        else:
            kept.append(row)
    return kept


def change_report(old: RunSource | None, new: RunSource) -> ReportResult:
    """Rows added and removed between two crawl runs (``old=None``: every row is added)."""
    new_rows = list(flat_rows(new))
    old_rows = list(flat_rows(old)) if old is not None else []
    added, removed = _difference(new_rows, old_rows), _difference(old_rows, new_rows)
    header = [CHANGE_COLUMN, *columns(new.fields)]
    tagged = [{CHANGE_COLUMN: ADDED, **row} for row in added] + [{CHANGE_COLUMN: REMOVED, **row} for row in removed]
    return ReportResult(
        header=header,
        rows=list(_cells(header, tagged)),
        summary={"added": len(added), "removed": len(removed), "rowCount": len(tagged)},
        change={"added": added, "removed": removed},
    )


def rows_report(new: RunSource) -> ReportResult:
    """Any non-CHANGE report: the latest run's rows."""
    header, rows = run_table(new)
    materialised = [list(row) for row in rows]
    return ReportResult(header=header, rows=materialised, summary={"rowCount": len(materialised)})
