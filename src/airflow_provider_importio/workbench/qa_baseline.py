"""The QA baseline of a source, read from the store (see ``docs/checks.md``).

The baseline is, per statistic, the median over the source's latest :data:`~.checks.BASELINE_SIZE`
*good* snapshots: PASSED_QA or PUSHED — never PUSHED_IGNORE (pushed despite failed QA, "so it
doesn't mess up the statistics for good data"), nor snapshots waiting for or failing QA.
Snapshots are found through :meth:`Store.source_stats` on :data:`ANCHOR_STATISTIC` (which every
statistics pass records), newest first; their statistics through :meth:`Store.snapshot_stats`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from airflow_provider_importio.workbench.checks import BASELINE_SIZE, QaResult, baseline, effective_checks, evaluate
from airflow_provider_importio.workbench.snapshot_states import SnapshotState

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import Snapshot
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.config_model import Collection, Schema

#: The states whose statistics make the baseline ("good data").
GOOD_STATES: tuple[SnapshotState, ...] = (SnapshotState.PASSED_QA, SnapshotState.PUSHED)
#: A statistic every snapshot with statistics has; it locates the source's snapshots.
ANCHOR_STATISTIC = "total_inputs"


def history_for(store: Store, collection: str, source: str, *, exclude_snapshot: str | None = None,
                before: datetime | None = None, project: str | None = None,
                limit: int = BASELINE_SIZE) -> list[dict[str, float | None]]:
    """The statistics of the source's latest ``limit`` good snapshots, newest first.

    ``exclude_snapshot``: the snapshot under QA; ``before``: only snapshots created earlier (pass the
    delivery's ``created_at`` to leave out the delivery's own chunks); ``project``: only that
    project's snapshots (collection slugs are unique per project file only).
    """
    if limit < 1:
        return []
    owners: dict[str, str] = {}
    window = limit
    while True:
        anchors = store.source_stats(collection, source, ANCHOR_STATISTIC, states=GOOD_STATES, before=before,
                                     exclude_snapshot=exclude_snapshot, limit=window)
        ids = [a.snapshot_id for a in anchors]
        if project is not None:
            for snapshot_id in ids:
                if snapshot_id not in owners:
                    owners[snapshot_id] = store.get_snapshot(snapshot_id).project
            ids = [i for i in ids if owners[i] == project]
        if len(ids) >= limit or len(anchors) < window:
            break
        window *= 4  # other projects' snapshots took places: look further back
    return [store.snapshot_stats(snapshot_id) for snapshot_id in ids[:limit]]


def baseline_for(store: Store, collection: str, source: str, *, exclude_snapshot: str | None = None,
                 before: datetime | None = None, project: str | None = None,
                 limit: int = BASELINE_SIZE) -> dict[str, float]:
    """The source's baseline: per statistic, the median over :func:`history_for` (empty: no baseline yet)."""
    return baseline(history_for(store, collection, source, exclude_snapshot=exclude_snapshot, before=before,
                                project=project, limit=limit))


def evaluate_snapshot(store: Store, snapshot: Snapshot | str, collection: Collection, schema: Schema | None,
                      *, limit: int = BASELINE_SIZE) -> QaResult:
    """Run the collection's checks on a snapshot's recorded statistics against its source's baseline:
    the good snapshots of the same project, collection and source created before the snapshot's delivery
    (so a delivery's chunks never make each other's baseline)."""
    snap = store.get_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
    stats = store.snapshot_stats(snap.id)
    delivery = store.get_delivery(snap.delivery_id)
    base = baseline_for(store, snap.collection, snap.source, exclude_snapshot=snap.id, before=delivery.created_at,
                        project=snap.project, limit=limit)
    return evaluate(effective_checks(collection, schema, stats), stats, base)
