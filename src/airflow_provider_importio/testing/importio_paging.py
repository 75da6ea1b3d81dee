"""Paging and sorting of the emulator's list endpoints (``_page``, ``_perpage``, ``_sort``, ``_sortDirection``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_importio.testing._server import HttpError

#: Items per page when ``_perpage`` is not given (Import.io's default is *unknown*).
DEFAULT_PER_PAGE = 30
#: Largest accepted ``_perpage``.
MAX_PER_PAGE = 1000
#: Sort field when ``_sort`` is not given.
DEFAULT_SORT = "_meta.creationTimestamp"
#: Short sort names accepted besides dotted field paths.
SORT_ALIASES = {
    "meta_created_at": "_meta.creationTimestamp",
    "meta_modified_at": "_meta.modificationTimestamp",
}


def _positive_int(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"{name} must be an integer") from None
    if value < 1:
        raise HttpError(400, f"{name} must be at least 1")
    return value


def _lookup(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (bool, int, float)):
        return 0, float(value)
    if isinstance(value, str):
        return 1, value.lower()
    return 2, repr(value)


def paginate(docs: Sequence[Mapping[str, Any]], query: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Sort ``docs`` (given oldest first) and return the requested page.

    Ties keep creation order (reversed for DESC); documents without the sort field come last.
    """
    page = _positive_int(query, "_page", 1)
    per_page = _positive_int(query, "_perpage", DEFAULT_PER_PAGE)
    if per_page > MAX_PER_PAGE:
        raise HttpError(400, f"_perpage must be at most {MAX_PER_PAGE}")
    direction = (query.get("_sortDirection") or "DESC").upper()
    if direction not in ("ASC", "DESC"):
        raise HttpError(400, "_sortDirection must be ASC or DESC")
    sort = query.get("_sort") or DEFAULT_SORT
    path = SORT_ALIASES.get(sort, sort)
    keyed = [(_lookup(doc, path), index, doc) for index, doc in enumerate(docs)]
    present = sorted(
        (item for item in keyed if item[0] is not None),
        key=lambda item: (_sortable(item[0]), item[1]),
        reverse=direction == "DESC",
    )
    missing = [item for item in keyed if item[0] is None]
    ordered = [doc for _, _, doc in present + missing]
    start = (page - 1) * per_page
    return ordered[start : start + per_page]
