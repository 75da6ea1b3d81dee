"""Moments operators take from their arguments or their run: one parser, one fallback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def parse_moment(value: Any) -> dt.datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string (``Z`` allowed; naive means UTC)."""
    if value in (None, ""):
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def run_start(context: Mapping[str, Any]) -> dt.datetime | None:
    """The delivery start ``T`` of the run: its logical date, else its ``run_after``."""
    return parse_moment(context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None))


def moment_or_run_start(value: Any, context: Mapping[str, Any], what: str) -> dt.datetime:
    """``value`` parsed, else the run's start; a clear error when there is neither."""
    moment = parse_moment(value) or run_start(context)
    if moment is None:
        raise ValueError(f"no {what} given and the run has neither a logical date nor run_after")
    return moment


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
