"""The alarm metrics: numbers computed from the store over a window (plain Python, no Airflow).

:func:`compute_metrics` returns every name of :data:`METRIC_NAMES` for one scope (a project and
optionally one collection and/or flow). Every metric is defined in ``docs/alarms.md``; in short,
over the *live* snapshots (not SUPERCEDED) created within ``[now - window, now]``:

* ``snapshots.status.<STATE>`` — snapshots in that state (every state; SUPERCEDED counts the
  replaced attempts created in the window);
* ``pushes.status.FAILED`` — (snapshot, destination) pairs whose latest push attempt FAILED;
* ``snapshots.afterEndByCount`` — snapshots past their chunk's collect-by that have not been
  collected (still START_PENDING, STARTED, START_FAILED or RUN_FAILED);
* ``snapshots.afterDeliverByCount`` — snapshots past their delivery's push deadline that have not
  been pushed (not PUSHED nor PUSHED_IGNORE);
* ``health.collectedByPct`` — % of the inputs due by now that were collected by their chunk's
  collect-by (100 when nothing is due);
* ``health.blockedPct``, ``health.errorPct``, ``health.noHtmlPct``, ``health.noData200Pct`` — the
  per-snapshot statistics ``blocked_pct``, ``system_error_pct``, ``missing_html_pct`` and
  ``no_data_200_pct`` averaged weighted by ``total_inputs`` (0 without inputs).

Deadlines come from the flow configuration (:func:`~.windows.delivery_windows` of the delivery's
start), unless a snapshot's ``options`` carry ``collect_by`` / ``push_due`` (ISO 8601).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from airflow_provider_importio.workbench.windows import delivery_windows

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import Delivery, Snapshot
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.config_model import Flow

STATUS_PREFIX = "snapshots.status."
PUSHES_FAILED = "pushes.status.FAILED"
AFTER_END_BY = "snapshots.afterEndByCount"
AFTER_DELIVER_BY = "snapshots.afterDeliverByCount"
COLLECTED_BY_PCT = "health.collectedByPct"
BLOCKED_PCT = "health.blockedPct"
ERROR_PCT = "health.errorPct"
NO_DATA_200_PCT = "health.noData200Pct"
NO_HTML_PCT = "health.noHtmlPct"

#: Health metric → the per-snapshot statistic it averages (weighted by ``total_inputs``).
HEALTH_STATISTICS: dict[str, str] = {
    BLOCKED_PCT: "blocked_pct",
    ERROR_PCT: "system_error_pct",
    NO_DATA_200_PCT: "no_data_200_pct",
    NO_HTML_PCT: "missing_html_pct",
}
#: Every metric name, in a stable order.
METRIC_NAMES: tuple[str, ...] = (
    *(STATUS_PREFIX + state.value for state in SnapshotState),
    PUSHES_FAILED, AFTER_END_BY, AFTER_DELIVER_BY, COLLECTED_BY_PCT, *HEALTH_STATISTICS,
)
#: Metrics that are percentages (0–100).
PERCENT_METRICS = frozenset({COLLECTED_BY_PCT, *HEALTH_STATISTICS})
#: States of a snapshot whose chunk has not been collected (yet, or at all).
NOT_COLLECTED = frozenset({SnapshotState.START_PENDING, SnapshotState.STARTED, SnapshotState.START_FAILED,
                           SnapshotState.RUN_FAILED})
#: States of a snapshot whose data has gone out.
DELIVERED = frozenset({SnapshotState.PUSHED, SnapshotState.PUSHED_IGNORE})
DEFAULT_WINDOW = timedelta(hours=24)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(timezone.utc)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str) and value:
        try:
            return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


class _Deadlines:
    """Collect-by and push-due times of snapshots, from their delivery and flow (cached)."""

    def __init__(self, store: Store, flows: Mapping[str, Flow], snapshots: list[Snapshot]) -> None:
        self.store, self.flows = store, flows
        self._deliveries: dict[str, Delivery] = {}
        # A params override may run more chunks than the flow says: count the chunks seen too.
        self._chunks: dict[str, int] = {}
        for snap in snapshots:
            self._chunks[snap.delivery_id] = max(self._chunks.get(snap.delivery_id, 0), snap.chunk + 1)

    def _windows(self, snap: Snapshot) -> Any:
        flow = self.flows.get(snap.flow)
        if flow is None:
            return None
        delivery = self._deliveries.get(snap.delivery_id)
        if delivery is None:
            delivery = self._deliveries[snap.delivery_id] = self.store.get_delivery(snap.delivery_id)
        start = delivery.start or delivery.created_at
        chunks = None
        if flow.definition.input_uri_template is not None:
            chunks = max(flow.definition.chunk_count, self._chunks.get(snap.delivery_id, 1))
        return delivery_windows(flow, _aware(start), chunks)

    def collect_by(self, snap: Snapshot) -> datetime | None:
        explicit = _parse(snap.options.get("collect_by"))
        if explicit is not None:
            return explicit
        windows = self._windows(snap)
        if windows is None:
            return None
        return windows.chunks[min(snap.chunk, len(windows.chunks) - 1)].collect_by

    def push_due(self, snap: Snapshot) -> datetime | None:
        explicit = _parse(snap.options.get("push_due"))
        if explicit is not None:
            return explicit
        windows = self._windows(snap)
        return windows.push_due if windows is not None else None


def _collected_at(store: Store, snap: Snapshot) -> datetime | None:
    """When the snapshot left the collecting states (its first move to a later state)."""
    for transition in store.history(snap.id):
        if transition.to_state not in NOT_COLLECTED and transition.to_state is not SnapshotState.SUPERCEDED:
            return _aware(transition.at)
    return None


def _inputs(snap: Snapshot, stats: Mapping[str, float | None]) -> float:
    total = stats.get("total_inputs")
    if total is not None:
        return float(total)
    return float(snap.input_count or 0)


def compute_metrics(
    store: Store,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    project: str | None = None,
    collection: str | None = None,
    flow: str | None = None,
    flows: Mapping[str, Flow] | Iterable[Flow] | None = None,
) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for the snapshots of the scope created within
    ``[now - window, now]``; *flows* (slug → flow, or flows) give the deadlines."""
    now = _aware(now)
    if window <= timedelta(0):
        raise ValueError("the window must be positive")
    by_slug: dict[str, Flow] = dict(flows) if isinstance(flows, Mapping) else {f.slug: f for f in flows or ()}
    since = now - window
    every = [s for s in store.snapshots(project=project, collection=collection, flow=flow)
             if since <= _aware(s.created_at) <= now]
    live = [s for s in every if s.state is not SnapshotState.SUPERCEDED]
    metrics: dict[str, float] = {STATUS_PREFIX + state.value: 0.0 for state in SnapshotState}
    for snap in every:
        metrics[STATUS_PREFIX + snap.state.value] += 1

    # Pushes: the latest attempt per (snapshot, destination) of the live snapshots.
    latest: dict[tuple[str, str], Any] = {}
    live_ids = {s.id for s in live}
    for push in store.pushes():
        if push.snapshot_id in live_ids:
            latest[(push.snapshot_id, push.destination)] = push  # oldest first: the last one wins
    metrics[PUSHES_FAILED] = float(sum(1 for p in latest.values() if p.status.value == "FAILED"))

    deadlines = _Deadlines(store, by_slug, live)
    after_end = after_deliver = 0
    due_inputs = on_time_inputs = 0.0
    weights: dict[str, float] = dict.fromkeys(HEALTH_STATISTICS, 0.0)
    total_inputs = 0.0
    for snap in live:
        stats = store.snapshot_stats(snap.id)
        inputs = _inputs(snap, stats)
        collect_by = deadlines.collect_by(snap)
        if collect_by is not None:
            collected = _collected_at(store, snap)
            if collect_by < now and snap.state in NOT_COLLECTED:
                after_end += 1
            if collect_by <= now or collected is not None:
                due_inputs += inputs
                if collected is not None and collected <= collect_by:
                    on_time_inputs += inputs
        push_due = deadlines.push_due(snap)
        if push_due is not None and push_due < now and snap.state not in DELIVERED:
            after_deliver += 1
        if stats.get("total_inputs"):
            total_inputs += inputs
            for metric, name in HEALTH_STATISTICS.items():
                weights[metric] += float(stats.get(name) or 0.0) * inputs
    metrics[AFTER_END_BY] = float(after_end)
    metrics[AFTER_DELIVER_BY] = float(after_deliver)
    metrics[COLLECTED_BY_PCT] = 100.0 * on_time_inputs / due_inputs if due_inputs else 100.0
    for metric in HEALTH_STATISTICS:
        metrics[metric] = weights[metric] / total_inputs if total_inputs else 0.0
    return {name: metrics[name] for name in METRIC_NAMES}
