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
only by :func:`scan_result_line` (which :func:`parse_result_line` and the statistics pass use);
change them here if the live service turns out to differ:

* ``result.error = {"type": "SYSTEM_ERROR" | "BLOCKED", "message": "..."}``
* ``result.pageData.htmlCaptured = false`` (absent means captured)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
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
        if len(values) == 1:  # the usual case, without the joins (same result)
            value = values[0]
            text = value.get("text", "")
            flat[name] = text if text.__class__ is str else str(text)
            href = value.get("href")
            if href:
                flat[name + LINK_SUFFIX] = href if href.__class__ is str else str(href)
            continue
        flat[name] = " ".join(str(v.get("text", "")) for v in values)
        hrefs = [str(v["href"]) for v in values if v.get("href")]
        if hrefs:
            flat[name + LINK_SUFFIX] = " ".join(hrefs)
    return flat


def _joined_text(values: Any) -> str:
    return " ".join(str(v.get("text", "")) for v in values)


def _joined_href(values: Any) -> str:
    return " ".join(str(v["href"]) for v in values if v.get("href"))


def field_text(values: Any) -> str | None:
    """A field's text as ``flatten_row`` gives it, from its value objects (``None`` if missing)."""
    if values is None:
        return None
    if len(values) == 1:
        text = values[0].get("text", "")
        return text if text.__class__ is str else str(text)
    return _joined_text(values)


def field_link(values: Any) -> str | None:
    """A link field's ``href`` as ``flatten_row`` gives it (its text without one; ``None`` if missing)."""
    if values is None:
        return None
    if len(values) == 1:
        value = values[0]
        text = value.get("href") or value.get("text", "")
        return text if text.__class__ is str else str(text)
    return _joined_href(values) or _joined_text(values)


def row_reader_source(
    columns: Sequence[tuple[str, bool]], *, group: str = "group", prefix: str = "c", indent: str = "    "
) -> tuple[list[str], dict[str, Any]]:
    """Python source reading some fields of the row (group element) in variable ``group``.

    For ``columns`` ``[(field, prefer_href), ...]`` the lines set ``<prefix>0``, ``<prefix>1``, ...
    to what ``flatten_row(group).get(field)`` gives — with ``prefer_href``,
    ``flat.get(field + LINK_SUFFIX) or flat.get(field)``: a link's href, else its text — and to
    ``None`` for a field the row does not have. Returns the lines and the names they use. Meant for
    passes over millions of rows, where an intermediate dict per row is too slow; see
    :func:`compile_row_reader`.

    The usual shape — one value object with a ``text`` (a truthy ``href`` for a link) — is read with
    plain subscripts; any other shape (a missing field, several values, no ``text``) makes one of
    them raise, and :func:`field_text` / :func:`field_link` read it instead, with the same result
    (and the same error for a malformed row).
    """
    lines = []
    for index, (name, prefer_href) in enumerate(columns):
        out = f"{prefix}{index}"
        value = "_y['href'] or _y['text']" if prefer_href else "_y['text']"
        lines += [
            f"{indent}try:",
            f"{indent}    [_y] = {group}[{name!r}]",
            f"{indent}    {out} = {value}",
            f"{indent}except Exception:",
            f"{indent}    {out} = {'_field_link' if prefer_href else '_field_text'}({group}.get({name!r}))",
            f"{indent}else:",
            f"{indent}    if {out}.__class__ is not str:",
            f"{indent}        {out} = str({out})",
        ]
    return lines, {"_field_text": field_text, "_field_link": field_link}


def compile_row_reader(columns: Sequence[tuple[str, bool]]) -> Callable[[Mapping[str, Any]], tuple[str | None, ...]]:
    """A function ``row -> tuple`` of the values :func:`row_reader_source` describes, one per column."""
    body, namespace = row_reader_source(columns)
    outputs = "".join(f"c{index}, " for index in range(len(columns)))
    source = "\n".join(["def read(group):", *body, f"    return ({outputs})"]) + "\n"
    exec(compile(source, "<importio row reader>", "exec"), namespace)  # noqa: S102 - our own template
    return namespace["read"]  # type: ignore[no-any-return]


#: What :func:`scan_result_line` returns: input URL, status code, error type, HTML captured, groups.
LineScan = tuple[str, int | None, str | None, bool, Sequence[Row]]
#: The variables :func:`line_scan_source` sets, in :data:`LineScan` order.
LINE_SCAN_VARIABLES = ("url", "status", "error_type", "html_captured", "groups")


def line_scan_source(obj: str = "obj", *, indent: str = "    ") -> tuple[list[str], dict[str, Any]]:
    """Python source reading a decoded line (variable ``obj``): the one reader of the markers.

    The lines set :data:`LINE_SCAN_VARIABLES`: ``url`` (the input), ``status`` (``int`` or ``None``),
    ``error_type`` (``result.error.type``: :data:`SYSTEM_ERROR`, :data:`BLOCKED` or ``None``),
    ``html_captured`` (``False`` only when ``pageData.htmlCaptured`` is ``false``) and ``groups`` (the
    rows of every ``data`` block; possibly the line's own list — read it, do not change it). Names
    starting ``_s`` are scratch. Returns the lines and the names they use. :func:`scan_result_line`
    is this source as a function; a pass over millions of lines may inline it.

    The usual line — one data block, an ``int`` status code, no error and no ``htmlCaptured``
    marker — is read with plain subscripts; any other is read key by key (the same values).
    """
    i = indent
    fast = [
        f"{i}try:",
        f"{i}    _sresult = {obj}['result']",
        f"{i}    _spage = _sresult['pageData']",
        f"{i}    status = _spage['statusCode']",
        f"{i}    [_sblock] = _sresult['extractorData']['data']",
        f"{i}    groups = _sblock['group'] or _NO_GROUPS",
        f"{i}    url = {obj}['url']",
        f"{i}    _sfast = status.__class__ is int and 'error' not in _sresult and {HTML_CAPTURED_KEY!r} not in _spage",
        f"{i}except Exception:",
        f"{i}    _sfast = False",
        f"{i}if _sfast:",
        f"{i}    error_type = None",
        f"{i}    html_captured = True",
        f"{i}else:",
    ]
    i += "    "
    lines = [
        f"{i}_sresult = {obj}.get('result') or _NOTHING",
        f"{i}_spage = _sresult.get('pageData') or _NOTHING",
        f"{i}_serror = _sresult.get('error')",
        f"{i}_sdata = (_sresult.get('extractorData') or _NOTHING).get('data')",
        f"{i}if not _sdata:",
        f"{i}    groups = _NO_GROUPS",
        f"{i}elif len(_sdata) == 1:",
        f"{i}    groups = _sdata[0].get('group') or _NO_GROUPS",
        f"{i}else:",
        f"{i}    groups = [_sgroup for _sblock in _sdata for _sgroup in (_sblock.get('group') or ())]",
        f"{i}status = _spage.get('statusCode')",
        f"{i}if status is not None and status.__class__ is not int:",
        f"{i}    status = int(status)",
        f"{i}error_type = _serror.get('type') if _serror else None",
        f"{i}html_captured = _spage.get({HTML_CAPTURED_KEY!r}, True) is not False",
        f"{i}url = {obj}.get('url', '')",
    ]
    return fast + lines, {"_NOTHING": {}, "_NO_GROUPS": ()}


def _compile_scan() -> Callable[[Mapping[str, Any]], LineScan]:
    body, namespace = line_scan_source("obj")
    source = "\n".join(["def scan(obj):", *body, f"    return ({', '.join(LINE_SCAN_VARIABLES)})"]) + "\n"
    exec(compile(source, "<importio line scan>", "exec"), namespace)  # noqa: S102 - our own template
    return namespace["scan"]  # type: ignore[no-any-return]


_scan = _compile_scan()


def scan_result_line(obj: Mapping[str, Any]) -> LineScan:
    """``(input_url, status_code, error_type, html_captured, groups)`` of a decoded line, without
    building a :class:`ResultLine` (see :func:`line_scan_source`)."""
    return _scan(obj)


def parse_result_line(line: str | bytes | Mapping[str, Any]) -> ResultLine:
    """Parse one line of a crawl run's ``json`` file (or the already-decoded object)."""
    obj = json.loads(line) if isinstance(line, (str, bytes, bytearray)) else line
    input_url, status, error_type, html_captured, groups = scan_result_line(obj)
    result = obj.get("result") or {}
    extractor = result.get("extractorData") or {}
    error = result.get("error") or {}
    return ResultLine(
        input_url=input_url,
        page_url=extractor.get("url"),
        status_code=status,
        groups=list(groups),
        error_type=error_type,
        error_message=error.get("message"),
        html_captured=html_captured,
        sequence_number=result.get("sequenceNumber"),
    )
