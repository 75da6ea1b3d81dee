"""One push of a delivery: each pushable snapshot to each linked destination, every attempt recorded.

For every snapshot (read fresh from the store) in ``PASSED_QA`` or ``PUSHED_IGNORE`` and every linked
S3 or SFTP destination, the snapshot's rows file is formatted into a local temporary file (streamed;
once per format) and then:

* an **active** destination gets the file (S3 object or SFTP file at the rendered path) and a
  ``PUSHED`` push record, or a ``FAILED`` one with the error;
* an **inactive** destination gets nothing written and a ``DRY_RUN`` record: where the file would
  have gone, its bytes and rows.

A snapshot moves ``PASSED_QA`` → ``PUSHED`` once every active linked destination (STITCH ones
included, whichever operator pushes them) has a ``PUSHED`` record for it
(:func:`mark_pushed_when_complete`); ``PUSHED_IGNORE`` stays. A (snapshot, destination) pair
already pushed is ``SKIPPED`` unless ``repush`` is set, so a retry after a partial failure does only
what is left (``PUSHED`` snapshots are looked at for that reason: a destination linked since gets
them). A repush writes the same key or path again (the path depends only on the snapshot and its
delivery), replacing the file rather than adding one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_importio.transfers.destinations import FILE_TYPES, DestinationError, snapshot_path
from airflow_provider_importio.workbench.config_model import Destination
from airflow_provider_importio.workbench.formats import CONTENT_TYPES, WriteSummary, write_rows
from airflow_provider_importio.workbench.snapshot_states import PUSHABLE_STATES, SnapshotState

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import Delivery, Snapshot
    from airflow_provider_importio.store.store import Store

log = logging.getLogger(__name__)

PUSHED, FAILED, DRY_RUN, SKIPPED = "PUSHED", "FAILED", "DRY_RUN", "SKIPPED"
#: The snapshot artifact naming its rows file (written by the QA step).
ROWS_ARTIFACT = "rows"
MAX_ERROR_CHARS = 2000


class DestinationWriter(Protocol):
    """What the push needs of a destination: where a path is, its asset, an upload."""

    def location(self, path: str) -> str: ...

    def asset_uri(self) -> str: ...

    def upload(self, local_path: str, path: str, *, content_type: str = ...) -> str: ...

    def close(self) -> None: ...


def default_writer(destination: Destination, *, sftp_connect_attempts: int = 3) -> DestinationWriter:
    """The writer for an S3 or SFTP destination."""
    if destination.type == "S3":
        from airflow_provider_importio.transfers.s3_destination import S3DestinationWriter

        return S3DestinationWriter(destination)
    if destination.type == "SFTP":
        from airflow_provider_importio.transfers.sftp_destination import SFTPDestinationWriter

        return SFTPDestinationWriter(destination, connect_attempts=sftp_connect_attempts)
    raise ValueError(f"destination {destination.slug!r}: no file writer for type {destination.type}")


@dataclass(frozen=True)
class PushOutcome:
    """One (snapshot, destination) pair of a push run. ``SKIPPED`` pairs (already pushed) have no new record."""

    snapshot_id: str
    destination: str
    status: str
    uri: str | None = None
    row_count: int | None = None
    byte_count: int | None = None
    error: str | None = None
    asset_uri: str | None = None
    source: str | None = None
    chunk: int | None = None
    delivery_id: str | None = None
    format: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_ids(refs: Any) -> list[str]:
    """Snapshot ids from collect/QA results: ids, dicts with ``snapshot_id``, lists of either (mapped
    task output), ``None`` (a skipped map index) ignored; in order, without repeats."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if item is None:
            return
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            if not item.get("snapshot_id"):
                raise ValueError(f"a result without 'snapshot_id': {dict(item)!r}")
            found.append(str(item["snapshot_id"]))
        elif isinstance(item, Iterable):
            for inner in item:
                walk(inner)
        else:
            raise TypeError(f"cannot read a snapshot id from {item!r}")

    walk(refs)
    return list(dict.fromkeys(found))


def mark_pushed_when_complete(store: Store, snapshot_id: str, destinations: Iterable[str], *, actor: str) -> Snapshot:
    """Move a ``PASSED_QA`` snapshot to ``PUSHED`` once each of ``destinations`` (the active linked
    ones) has a ``PUSHED`` record for it; otherwise leave it. Other states stay as they are."""
    from airflow_provider_importio.workbench.snapshot_states import ConcurrentTransition

    snapshot = store.get_snapshot(snapshot_id)
    wanted = set(destinations)
    if snapshot.state is not SnapshotState.PASSED_QA or not wanted:
        return snapshot
    done = {p.destination for p in store.pushes(snapshot_id=snapshot_id, status="PUSHED")}
    missing = sorted(wanted - done)
    if missing:
        log.info("snapshot %s stays PASSED_QA: not pushed yet to %s", snapshot_id, ", ".join(missing))
        return snapshot
    try:
        return store.transition(snapshot_id, SnapshotState.PUSHED, actor=actor, expected_state=SnapshotState.PASSED_QA,
                                reason=f"pushed to {', '.join(sorted(wanted))}")
    except ConcurrentTransition as exc:
        log.info("snapshot %s moved meanwhile: %s", snapshot_id, exc)
        return store.get_snapshot(snapshot_id)


class DeliveryPush:
    """Push snapshots to destinations and record every attempt (see the module docstring).

    :param store: the project's store.
    :param destinations: the destinations linked to the collection (STITCH ones are skipped here but
        count, when active, towards a snapshot being complete).
    :param fields: the schema's field names in order (the CSV/XLSX columns after ``_url``).
    :param blank_row_for_no_data: the collection's ``blankRowForNoData``.
    :param actor: who pushes, for the records and the history.
    :param aws_conn_id: the AWS connection that reads ``s3://`` rows files.
    :param repush: push pairs already pushed again (the same key or path: the file is replaced).
    :param writer_factory: ``Destination`` → writer (tests inject slow or failing ones).
    :param workdir: where the temporary files go (default: the system's temporary directory).
    :param project: when given, a snapshot of another project is an error.
    """

    def __init__(
        self,
        store: Store,
        destinations: Sequence[Destination],
        fields: Sequence[str],
        *,
        blank_row_for_no_data: bool,
        actor: str,
        aws_conn_id: str | None = "aws_default",
        repush: bool = False,
        writer_factory: Callable[[Destination], DestinationWriter] = default_writer,
        workdir: str | None = None,
        project: str | None = None,
        logger: logging.Logger | None = None,
        row_schema: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.destinations = list(destinations)
        self.fields = list(fields)
        self.blank_row_for_no_data = blank_row_for_no_data
        self.actor = actor
        self.aws_conn_id = aws_conn_id
        self.repush = repush
        self.writer_factory = writer_factory
        self.workdir = workdir
        self.project = project
        self.log = logger or log
        self.row_schema = row_schema
        self._writers: dict[str, DestinationWriter] = {}
        self._deliveries: dict[str, Delivery] = {}

    # -- which snapshots ---------------------------------------------------------------------

    def pushable(self, refs: Any) -> list[Snapshot]:
        """The snapshots to push: each given one as it is now in the store (a superseded one
        replaced by its live successor), kept if ``PASSED_QA``, ``PUSHED_IGNORE`` or ``PUSHED``
        (its pairs already pushed are skipped); the others are logged with why."""
        chosen: dict[str, Snapshot] = {}
        allowed = PUSHABLE_STATES | {SnapshotState.PUSHED}
        for snapshot_id in snapshot_ids(refs):
            snapshot = self.store.get_snapshot(snapshot_id)
            if snapshot.state is SnapshotState.SUPERCEDED:
                live = self.store.live_snapshot(snapshot.delivery_id, snapshot.collection, snapshot.source, snapshot.chunk)
                if live is None:
                    self.log.info("Snapshot %s is SUPERCEDED and has no live successor; skipped", snapshot_id)
                    continue
                self.log.info("Snapshot %s is SUPERCEDED; pushing its successor %s", snapshot_id, live.id)
                snapshot = live
            if self.project is not None and snapshot.project != self.project:
                raise ValueError(f"snapshot {snapshot.id} belongs to project {snapshot.project!r}, "
                                 f"not {self.project!r}")
            if snapshot.state not in allowed:
                self.log.info("Snapshot %s (%s, chunk %s) skipped: it is %s; only PASSED_QA and PUSHED_IGNORE "
                              "snapshots are pushed", snapshot.id, snapshot.source, snapshot.chunk, snapshot.state.value)
                continue
            chosen.setdefault(snapshot.id, snapshot)
        return list(chosen.values())

    # -- the run -----------------------------------------------------------------------------

    def run(self, refs: Any) -> list[PushOutcome]:
        """Push; every outcome, in snapshot then destination order. Never raises for one failed
        pair (it is recorded ``FAILED``); the caller decides what a failure means."""
        snapshots = self.pushable(refs)
        files = [d for d in self.destinations if d.type in FILE_TYPES]
        stitch = [d for d in self.destinations if d.type == "STITCH"]
        complete_when = [d.slug for d in self.destinations if d.active]
        paths = {d.slug: self._paths(d, snapshots) for d in files}
        outcomes: list[PushOutcome] = []
        try:
            for snapshot in snapshots:
                with tempfile.TemporaryDirectory(prefix="importio-push-", dir=self.workdir) as tmp:
                    rendered: dict[str, WriteSummary | Exception] = {}
                    for destination in files:
                        outcome = self._push_one(snapshot, destination, paths[destination.slug][snapshot.id],
                                                 rendered, tmp)
                        outcomes.append(outcome)
                for destination in stitch:
                    outcomes.append(self._push_stitch(snapshot, destination))
                if not any(o.status == FAILED and o.snapshot_id == snapshot.id for o in outcomes):
                    mark_pushed_when_complete(self.store, snapshot.id, complete_when, actor=self.actor)
        finally:
            for writer in self._writers.values():
                writer.close()
            self._writers.clear()
        return outcomes

    def _delivery(self, snapshot: Snapshot) -> Delivery:
        if snapshot.delivery_id not in self._deliveries:
            self._deliveries[snapshot.delivery_id] = self.store.get_delivery(snapshot.delivery_id)
        return self._deliveries[snapshot.delivery_id]

    def _paths(self, destination: Destination, snapshots: list[Snapshot]) -> dict[str, str | Exception]:
        """Each snapshot's path, or why it has none: a path leaving the base, or one two snapshots share."""
        paths: dict[str, str | Exception] = {}
        owner: dict[str, str] = {}
        for snapshot in snapshots:
            try:
                path = snapshot_path(destination, snapshot, self._delivery(snapshot))
            except DestinationError as exc:
                paths[snapshot.id] = exc
                continue
            if path in owner:
                paths[snapshot.id] = DestinationError(
                    f"destination {destination.slug!r}: snapshots {owner[path]} and {snapshot.id} would both be "
                    f"written to {path!r}; put {{snapshot}}, or {{source}} and {{chunk}}, in the filename template")
                continue
            owner[path] = snapshot.id
            paths[snapshot.id] = path
        return paths

    def _writer(self, destination: Destination) -> DestinationWriter:
        if destination.slug not in self._writers:
            self._writers[destination.slug] = self.writer_factory(destination)
        return self._writers[destination.slug]

    def _already_pushed(self, snapshot: Snapshot, destination: Destination) -> Any:
        if self.repush:
            return None
        done = self.store.pushes(snapshot_id=snapshot.id, destination=destination.slug, status="PUSHED")
        return done[-1] if done else None

    def _push_one(self, snapshot: Snapshot, destination: Destination, path: str | Exception,
                  rendered: dict[str, WriteSummary | Exception], tmp: str) -> PushOutcome:
        base = {"snapshot_id": snapshot.id, "destination": destination.slug, "source": snapshot.source,
                "chunk": snapshot.chunk, "delivery_id": snapshot.delivery_id, "format": destination.format}
        status = PUSHED if destination.active else DRY_RUN
        if destination.active and (earlier := self._already_pushed(snapshot, destination)) is not None:
            self.log.info("Snapshot %s already pushed to %r (%s); skipped", snapshot.id, destination.slug, earlier.uri)
            return PushOutcome(**base, status=SKIPPED, uri=earlier.uri, row_count=earlier.row_count,
                               byte_count=earlier.byte_count, asset_uri=self._writer(destination).asset_uri())
        uri: str | None = None
        summary: WriteSummary | None = None
        try:
            if isinstance(path, Exception):
                raise path
            writer = self._writer(destination)
            uri = writer.location(path)
            local = os.path.join(tmp, f"rows.{destination.extension}")
            summary = self._render(snapshot, destination.format, local, rendered)
            if destination.active:
                uri = writer.upload(local, path, content_type=CONTENT_TYPES[destination.format])
                asset_uri = writer.asset_uri()
            else:
                asset_uri = None
                self.log.info("Dry run: %r is inactive; would write %s (%d rows, %d bytes)", destination.slug, uri,
                              summary.rows, summary.bytes)
        except Exception as exc:  # noqa: BLE001 - recorded, and reported by the caller
            error = _error_text(exc)
            self.log.error("Push of snapshot %s to %r failed: %s", snapshot.id, destination.slug, error)
            status = FAILED if destination.active else DRY_RUN
            self.store.record_push(snapshot.id, destination.slug, status, actor=self.actor, uri=uri,
                                   byte_count=summary.bytes if summary else None,
                                   row_count=summary.rows if summary else None, error=error)
            return PushOutcome(**base, status=status, uri=uri, error=error)
        self.store.record_push(snapshot.id, destination.slug, status, actor=self.actor, uri=uri,
                               byte_count=summary.bytes, row_count=summary.rows)
        return PushOutcome(**base, status=status, uri=uri, row_count=summary.rows, byte_count=summary.bytes,
                           asset_uri=asset_uri)

    def _push_stitch(self, snapshot: Snapshot, destination: Destination) -> PushOutcome:
        """Upsert the snapshot's rows into the destination's Stitch table (counted only, when inactive)."""
        from airflow_provider_importio.clients.stitch_batching import sequence_start_for
        from airflow_provider_importio.hooks.object_source import open_uri
        from airflow_provider_importio.transfers.destinations import snapshot_variables
        from airflow_provider_importio.transfers.stitch_destination import push_rows, stitch_rows, stitch_table
        from airflow_provider_importio.workbench.record_files import iter_records

        base = {"snapshot_id": snapshot.id, "destination": destination.slug, "source": snapshot.source,
                "chunk": snapshot.chunk, "delivery_id": snapshot.delivery_id, "format": "STITCH"}
        if destination.active and (earlier := self._already_pushed(snapshot, destination)) is not None:
            self.log.info("Snapshot %s already pushed to %r (%s); skipped", snapshot.id, destination.slug, earlier.uri)
            return PushOutcome(**base, status=SKIPPED, uri=earlier.uri, row_count=earlier.row_count,
                               byte_count=earlier.byte_count)
        uri: str | None = None
        try:
            table = stitch_table(destination, snapshot_variables(snapshot, self._delivery(snapshot), destination))
            uri = f"stitch://{destination.connection}/{table}"
            rows_uri = snapshot.artifacts.get(ROWS_ARTIFACT)
            if not rows_uri:
                raise FileNotFoundError(f"snapshot {snapshot.id} has no rows file (artifacts[{ROWS_ARTIFACT!r}])")
            with open_uri(rows_uri, aws_conn_id=self.aws_conn_id) as stream:
                rows = stitch_rows(iter_records(stream, "ndjson", name=rows_uri))
                if destination.active:
                    summary = push_rows(destination, table, rows, self.row_schema,
                                        sequence_start=sequence_start_for(snapshot.created_at))
                    count, size, status = summary.records, summary.bytes, PUSHED
                else:
                    count, size, status = sum(1 for _ in rows), None, DRY_RUN
                    self.log.info("Dry run: %r is inactive; would upsert %d rows into Stitch table %r",
                                  destination.slug, count, table)
        except Exception as exc:  # noqa: BLE001 - recorded, and reported by the caller
            error = _error_text(exc)
            self.log.error("Push of snapshot %s to %r failed: %s", snapshot.id, destination.slug, error)
            status = FAILED if destination.active else DRY_RUN
            self.store.record_push(snapshot.id, destination.slug, status, actor=self.actor, uri=uri, error=error)
            return PushOutcome(**base, status=status, uri=uri, error=error)
        self.store.record_push(snapshot.id, destination.slug, status, actor=self.actor, uri=uri,
                               byte_count=size, row_count=count)
        return PushOutcome(**base, status=status, uri=uri, row_count=count, byte_count=size)

    def _render(self, snapshot: Snapshot, fmt: str, local: str,
                rendered: dict[str, WriteSummary | Exception]) -> WriteSummary:
        """The snapshot's rows as ``fmt`` in ``local`` (made once per format and snapshot)."""
        if fmt not in rendered:
            try:
                rendered[fmt] = self._write_file(snapshot, fmt, local)
            except Exception as exc:  # noqa: BLE001 - every destination of this format gets it
                rendered[fmt] = exc
        result = rendered[fmt]
        if isinstance(result, Exception):
            raise result
        return result

    def _write_file(self, snapshot: Snapshot, fmt: str, local: str) -> WriteSummary:
        from airflow_provider_importio.hooks.object_source import open_uri
        from airflow_provider_importio.workbench.record_files import iter_records

        rows_uri = snapshot.artifacts.get(ROWS_ARTIFACT)
        if not rows_uri:
            raise FileNotFoundError(f"snapshot {snapshot.id} has no rows file (artifacts[{ROWS_ARTIFACT!r}]); "
                                    "the QA step writes it")
        with open_uri(rows_uri, aws_conn_id=self.aws_conn_id) as stream, open(local, "wb") as out:
            summary = write_rows(iter_records(stream, "ndjson", name=rows_uri), fmt, self.fields, out,
                                 blank_row_for_no_data=self.blank_row_for_no_data)
        self.log.info("Snapshot %s as %s: %d rows (%d inputs without data), %d bytes", snapshot.id, fmt,
                      summary.rows, summary.no_data, summary.bytes)
        return summary


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"
