"""The emulator's deterministic page model: what an input URL's page yields.

Everything depends on the URL alone (SHA-256 based), so a URL always gives the same rows.
:func:`page_outcome` is the one function that reads the URL conventions (path segments and the
``rows`` query parameter, see ``docs/importio-emulator.md``); :func:`result_line` renders the
outcome as one line of a crawl run's ``json`` file, in the shape that
:mod:`airflow_provider_importio.clients.importio_results` parses.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_importio.clients.importio_results import (
    BLOCKED,
    HTML_CAPTURED_KEY,
    SYSTEM_ERROR,
    Row,
    flatten_row,
)

#: Fields of an extractor created without ``fields``.
DEFAULT_FIELDS: tuple[dict[str, str], ...] = (
    {"name": "name", "type": "TEXT"},
    {"name": "price", "type": "TEXT"},
    {"name": "link", "type": "LINK"},
)
#: Inputs of an extractor created without ``inputs`` (its "training" URLs).
DEFAULT_INPUT_URLS: tuple[str, ...] = tuple(f"https://example.com/products/{n}" for n in (1, 2, 3))
#: Field types whose values carry an ``href``.
LINK_TYPE = "LINK"
#: Status code of a blocked page.
BLOCKED_STATUS = 403
#: Rows a page yields by default: 1 + (hash % MAX_DEFAULT_ROWS).
MAX_DEFAULT_ROWS = 5

_STATUS = re.compile(r"\d{3}")
_URL = re.compile(r"(?P<origin>[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?")
_ROWS_PARAM = re.compile(r"(?:^|&)rows=(\d+)(?=&|$)")
#: Origin of link values when an input URL has none.
DEFAULT_ORIGIN = "https://example.com"
_NAME_FIELDS = frozenset({"name", "title", "product"})
_PRICE_TYPES = frozenset({"CURRENCY", "NUMBER", "PRICE"})


@dataclass(frozen=True)
class PageOutcome:
    """What the emulated crawler gets from one input URL."""

    url: str
    origin: str = DEFAULT_ORIGIN
    status_code: int | None = 200
    error_type: str | None = None
    html_captured: bool = True
    row_count: int = 0
    duplicates: bool = False
    invalid: bool = False
    fails_run: bool = False

    @property
    def fetched(self) -> bool:
        """Counted in ``successUrlCount`` (any HTTP status); else in ``failedUrlCount``."""
        return self.error_type is None

    @property
    def output_rows(self) -> int:
        return self.row_count * (2 if self.duplicates else 1)

    def log_entry(self) -> tuple[bool, str]:
        """``(Success, Message)`` for the crawl run's log file."""
        if self.error_type == SYSTEM_ERROR:
            return False, "System error"
        if self.error_type == BLOCKED:
            return False, "Blocked"
        if self.status_code is not None and self.status_code >= 400:
            return False, f"HTTP {self.status_code}"
        if not self.row_count:
            return False, "No data extracted"
        return True, ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _after(segments: Sequence[str], marker: str) -> str | None:
    for index, segment in enumerate(segments[:-1]):
        if segment == marker:
            return segments[index + 1]
    return None


def page_outcome(url: str) -> PageOutcome:
    """Decide a URL's page from its conventions; the only reader of those conventions."""
    parts = _URL.match(url)
    assert parts is not None  # every string matches
    segments = [segment for segment in parts["path"].split("/") if segment]
    marks = set(segments)
    common: dict[str, Any] = {
        "url": url,
        "origin": parts["origin"] or DEFAULT_ORIGIN,
        "fails_run": "crawl-fail" in marks,
        "html_captured": "nohtml" not in marks,
    }
    if "error" in marks:
        return PageOutcome(status_code=None, error_type=SYSTEM_ERROR, **{**common, "html_captured": False})
    if "blocked" in marks:
        return PageOutcome(status_code=BLOCKED_STATUS, error_type=BLOCKED, **common)
    status = _after(segments, "status")
    if status is not None and _STATUS.fullmatch(status):
        return PageOutcome(status_code=int(status), **common)
    rows_param = _ROWS_PARAM.search(parts["query"] or "")
    forced = int(rows_param[1]) if rows_param else _int_or_none(_after(segments, "rows"))
    if "nodata" in marks:
        forced = 0
    rows = forced if forced is not None else 1 + int(_digest(url)[:8], 16) % MAX_DEFAULT_ROWS
    return PageOutcome(row_count=rows, duplicates="dupes" in marks, invalid="invalid" in marks, **common)


def normalise_fields(fields: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Extractor fields with a ``type`` (default ``TEXT``); the defaults when ``None``."""
    source = DEFAULT_FIELDS if fields is None else fields
    normalised = []
    for item in source:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"every field needs a non-empty string 'name': {item!r}")
        normalised.append({**item, "type": str(item.get("type") or "TEXT").upper()})
    return normalised


def is_link(field: Mapping[str, Any]) -> bool:
    return str(field.get("type", "")).upper() == LINK_TYPE


def _kind(field: Mapping[str, Any]) -> str:
    """How a field's values are made: ``link``, ``price``, ``name`` or ``text``."""
    lowered = str(field["name"]).lower()
    if is_link(field):
        return "link"
    if "price" in lowered or str(field.get("type", "")).upper() in _PRICE_TYPES:
        return "price"
    return "name" if lowered in _NAME_FIELDS else "text"


def _value(kind: str, name: str, token: str, origin: str, index: int, invalid: bool) -> dict[str, str]:
    if kind == "link":
        return {"text": f"{name} {token}", "href": f"{origin}/item/{token}"}
    if kind == "price":
        price = f"{(int(token, 16) % 99_900 + 100) / 100:.2f}"
        if invalid:
            return {"text": "N/A" if index % 2 == 0 else f"-{price}"}
        return {"text": price}
    if kind == "name":
        return {"text": "" if invalid else f"Product {token}"}
    return {"text": f"{name} {token}"}


def outcome_rows(outcome: PageOutcome, fields: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The page's rows (group elements) for normalised ``fields``."""
    plan = [(str(field["name"]), _kind(field), (position * 8) % 56) for position, field in enumerate(fields)]
    rows: list[Row] = []
    for index in range(outcome.row_count):
        digest = _digest(f"{outcome.url}#{index}")
        row: Row = {
            name: [_value(kind, name, digest[start : start + 8], outcome.origin, index, outcome.invalid)]
            for name, kind, start in plan
        }
        rows.append(row)
        if outcome.duplicates:
            rows.append({name: [dict(v) for v in values] for name, values in row.items()})
    return rows


def page_rows(url: str, fields: Iterable[Mapping[str, Any]] | None = None) -> list[Row]:
    """The group elements (rows of value objects) the URL's page yields."""
    return outcome_rows(page_outcome(url), normalise_fields(fields))


def expected_rows(url: str, fields: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, str]]:
    """The URL's rows flattened as ``ResultLine.flat_rows()`` gives them."""
    return [flatten_row(row) for row in page_rows(url, fields)]


def resource_id(url: str) -> str:
    return _digest("resource:" + url)[:32]


def result_line(
    url: str, fields: Sequence[Mapping[str, Any]], sequence_number: int, run_started_ms: int
) -> dict[str, Any]:
    """One line of the crawl run's ``json`` file for input ``url``; ``fields`` normalised."""
    outcome = page_outcome(url)
    rid = resource_id(url)
    page_timestamp = run_started_ms + 37 * sequence_number
    page: dict[str, Any] = {"resourceId": rid, "timestamp": page_timestamp}
    if outcome.status_code is not None:
        page["statusCode"] = outcome.status_code
    if not outcome.html_captured:
        page[HTML_CAPTURED_KEY] = False
    extractor: dict[str, Any] = {"url": url, "resourceId": rid}
    if outcome.fetched and (outcome.row_count or outcome.status_code == 200):
        # A 200 page without rows keeps an empty group; other statuses have no ``data``.
        extractor["data"] = [{"group": outcome_rows(outcome, fields)}]
    result: dict[str, Any] = {
        "extractorData": extractor,
        "pageData": page,
        "timestamp": page_timestamp + 250,
        "sequenceNumber": sequence_number,
    }
    if outcome.error_type is not None:
        message = "Blocked by the site" if outcome.error_type == BLOCKED else "Import.io system error"
        result["error"] = {"type": outcome.error_type, "message": message}
    return {"url": url, "result": result}


@dataclass(frozen=True)
class RunTotals:
    """A crawl run's final counts, derived from its inputs' outcomes."""

    total: int
    success: int
    failed: int
    rows: int
    html: int
    fails_run: bool


def run_totals(urls: Iterable[str]) -> RunTotals:
    total = success = rows = html = 0
    fails_run = False
    for url in urls:
        outcome = page_outcome(url)
        total += 1
        success += outcome.fetched
        rows += outcome.output_rows
        html += outcome.html_captured
        fails_run = fails_run or outcome.fails_run
    return RunTotals(total, success, total - success, rows, html, fails_run)
