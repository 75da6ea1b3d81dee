"""Import.io crawl-run result lines: the one place that knows their shape.

A crawl run's ``json`` file is newline-delimited, one line per input URL::

    {"url": "<input url>",
     "result": {"extractorData": {"url": "...", "resourceId": "...",
                                  "data": [{"group": [{"<Field>": [{"text": "...", "href": "..."}]}]}]},
                "pageData": {"resourceId": "...", "statusCode": 200, "timestamp": 1717430400123},
                "timestamp": 1717430401456,
                "sequenceNumber": 0}}

Import.io does not publish how a line records a system error, a blocked page or a page whose
HTML was not captured. This project chooses explicit markers, produced by the emulator and read
only by :func:`parse_result_line`; change them here if the live service turns out to differ:

* ``result.error = {"type": "SYSTEM_ERROR" | "BLOCKED", "message": "..."}``
* ``result.pageData.htmlCaptured = false`` (absent means captured)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``result.error.type`` of a line whose page hit an Import.io-side failure.
SYSTEM_ERROR = "SYSTEM_ERROR"
#: ``result.error.type`` of a line whose page was blocked by the site (captcha, ban, ...).
BLOCKED = "BLOCKED"
#: Key inside ``result.pageData`` that is ``false`` when no HTML was captured for the page.
HTML_CAPTURED_KEY = "htmlCaptured"
#: Suffix of the column that holds a link field's ``href`` in the CSV file.
LINK_SUFFIX = "_link"

Row = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class ResultLine:
    """One input URL's outcome in a crawl run."""

    input_url: str
    page_url: str | None
    status_code: int | None
    groups: list[Row] = field(default_factory=list, repr=False)
    error_type: str | None = None
    error_message: str | None = None
    html_captured: bool = True
    sequence_number: int | None = None

    @property
    def system_error(self) -> bool:
        return self.error_type == SYSTEM_ERROR

    @property
    def blocked(self) -> bool:
        return self.error_type == BLOCKED

    @property
    def has_data(self) -> bool:
        return bool(self.groups)

    def flat_rows(self) -> Iterator[dict[str, str]]:
        """Rows as ``{field: text, field_link: href}``, the CSV file's columns less ``url``."""
        for group in self.groups:
            yield flatten_row(group)


def flatten_row(group: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, str]:
    """Join a row's value objects into text (and ``<field>_link`` for link values)."""
    flat: dict[str, str] = {}
    for name, values in group.items():
        flat[name] = " ".join(str(v.get("text", "")) for v in values)
        hrefs = [str(v["href"]) for v in values if v.get("href")]
        if hrefs:
            flat[name + LINK_SUFFIX] = " ".join(hrefs)
    return flat


def parse_result_line(line: str | bytes | Mapping[str, Any]) -> ResultLine:
    """Parse one line of a crawl run's ``json`` file (or the already-decoded object)."""
    obj = json.loads(line) if isinstance(line, (str, bytes, bytearray)) else line
    result = obj.get("result") or {}
    extractor = result.get("extractorData") or {}
    page = result.get("pageData") or {}
    error = result.get("error") or {}
    groups: list[Row] = []
    for block in extractor.get("data") or ():
        groups.extend(block.get("group") or ())
    status = page.get("statusCode")
    return ResultLine(
        input_url=obj.get("url", ""),
        page_url=extractor.get("url"),
        status_code=int(status) if status is not None else None,
        groups=groups,
        error_type=error.get("type"),
        error_message=error.get("message"),
        html_captured=page.get(HTML_CAPTURED_KEY, True) is not False,
        sequence_number=result.get("sequenceNumber"),
    )
