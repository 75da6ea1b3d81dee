"""Window arithmetic of a delivery.

For a delivery of a flow starting at ``T`` (an aware datetime — the cron tick or a manual start), with
``D = dataHours``, ``P = pushHours``, ``X = closeHours``, ``N`` chunks and ``C = chunkCollectHours``:

* chunk ``i`` (``0 ≤ i < N``) starts at ``T + i·(D − C)/(N − 1)``; with ``N = 1`` it starts at ``T``;
* each chunk must be collected within ``C``: its *collect-by* deadline is its start ``+ C``;
* so the last chunk starts at ``T + D − C`` and collection ends by ``T + D`` (``data_end``);
* the push is due by ``T + P`` (``push_due``) and the delivery closes at ``T + X`` (``close``).

The loader guarantees ``C ≤ D ≤ P ≤ X``. A flow without ``inputUriTemplate`` has one chunk whose collect
window is the whole of ``D``; a flow with an input template but no ``chunks`` has one chunk, and without
``chunkCollectHours`` its chunks take ``C = D`` (all start at ``T``).

Examples from the Workbench guide: staging (``D=1, P=2, X=3, N=10, C=1``) starts all ten chunks at ``T``,
each due by ``T+1h``; production (``D=12, P=24, X=48, N=48, C=1``) starts a chunk every ``11h/47`` ≈ 14 min
2 s, the last at ``T+11h``, due by ``T+12h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol


class _Definition(Protocol):
    input_uri_template: str | None
    chunks: int | None
    chunk_collect_hours: float | None


class _Flow(Protocol):
    data_hours: float
    push_hours: float
    close_hours: float
    definition: _Definition


@dataclass(frozen=True)
class ChunkWindow:
    """One chunk: ``index`` from 0, when it starts, and when it must have been collected."""

    index: int
    start: datetime
    collect_by: datetime


@dataclass(frozen=True)
class DeliveryWindows:
    """The deadlines of one delivery and its chunk windows, in order."""

    start: datetime
    data_end: datetime
    push_due: datetime
    close: datetime
    chunks: tuple[ChunkWindow, ...]

    @property
    def chunk_interval(self) -> timedelta | None:
        """Time between two chunk starts, ``None`` with a single chunk."""
        return self.chunks[1].start - self.chunks[0].start if len(self.chunks) > 1 else None

    @property
    def collect_window(self) -> timedelta:
        """How long each chunk has to be collected."""
        return self.chunks[0].collect_by - self.chunks[0].start

    def describe(self) -> str:
        """A sentence for DAG docs, e.g. ``48 chunks, one every 14 min 2 s, each collected within 1 h; ...``."""
        n = len(self.chunks)
        interval = self.chunk_interval
        if n == 1:
            head = f"1 chunk, collected within {format_duration(self.collect_window)}"
        elif interval == timedelta(0):
            head = (
                f"{n} chunks, all starting at the delivery start, each collected within "
                f"{format_duration(self.collect_window)}"
            )
        else:
            assert interval is not None
            head = (
                f"{n} chunks, one every {format_duration(interval)}, each collected within "
                f"{format_duration(self.collect_window)}"
            )
        return (
            f"{head}; collection ends {format_duration(self.data_end - self.start)} after the start, "
            f"the push is due by {format_duration(self.push_due - self.start)} "
            f"and the delivery closes at {format_duration(self.close - self.start)}."
        )


def format_duration(delta: timedelta) -> str:
    """``14 min 2 s``, ``1 h``, ``48 h``: hours as Workbench counts them, whole seconds (fractions dropped)."""
    total = int(delta.total_seconds())
    if total <= 0:
        return "0 s"
    parts = []
    for unit, size in (("h", 3600), ("min", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts)


def delivery_windows(flow: _Flow, start: datetime, chunks: int | None = None) -> DeliveryWindows:
    """The windows of a delivery of ``flow`` starting at ``start``; ``chunks`` overrides the chunk count.

    All datetimes are returned in UTC. Raises :class:`ValueError` for a naive ``start``, a chunk count
    below 1, or an override on a flow without ``inputUriTemplate`` (such a flow has exactly one chunk).
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("a delivery start must be an aware datetime")
    start = start.astimezone(timezone.utc)  # elapsed hours, not wall-clock hours across a DST change
    definition = flow.definition
    data = timedelta(hours=flow.data_hours)
    if definition.input_uri_template is None:
        if chunks not in (None, 1):
            raise ValueError("a flow without inputUriTemplate has exactly one chunk; cannot override chunks")
        count, collect = 1, data
    else:
        count = chunks if chunks is not None else (definition.chunks or 1)
        hours = definition.chunk_collect_hours
        collect = timedelta(hours=hours) if hours is not None else data
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"chunks must be an integer ≥ 1, not {count!r}")
    if collect > data:
        raise ValueError("chunkCollectHours must not exceed dataHours")
    span = data - collect
    windows = []
    for index in range(count):
        offset = span * index / (count - 1) if count > 1 else timedelta(0)
        chunk_start = start + offset
        windows.append(ChunkWindow(index=index, start=chunk_start, collect_by=chunk_start + collect))
    return DeliveryWindows(
        start=start,
        data_end=start + data,
        push_due=start + timedelta(hours=flow.push_hours),
        close=start + timedelta(hours=flow.close_hours),
        chunks=tuple(windows),
    )
