"""The project's own store: deliveries, snapshots and their history, statistics, pushes, alarm
states and extractor leases, in SQLite or PostgreSQL (SQLAlchemy Core).

Every write is one database transaction. A snapshot moves only along
:data:`~airflow_provider_importio.workbench.snapshot_states.TRANSITIONS`, by a conditional
``UPDATE ... WHERE id = :id AND state = :state AND version = :version`` together with its history
row, so of two workers moving the same snapshot exactly one succeeds; the other gets
:class:`IllegalTransition` (it read the new state) or :class:`ConcurrentTransition` (it read the
old one). Times are timezone-aware UTC.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from airflow_provider_importio.store import migrate as _migrate
from airflow_provider_importio.store.engine import READ_ONLY, create_store_engine, masked
from airflow_provider_importio.store.records import (
    AlarmChange,
    AlarmState,
    Delivery,
    DeliveryState,
    Lease,
    Push,
    PushStatus,
    Snapshot,
    StatValue,
    Transition,
)
from airflow_provider_importio.store.schema import (
    alarm_states,
    deliveries,
    extractor_leases,
    pushes,
    snapshot_stats,
    snapshot_transitions,
    snapshots,
)
from airflow_provider_importio.workbench.snapshot_states import (
    ConcurrentTransition,
    IllegalTransition,
    SnapshotState,
    check_initial,
    check_transition,
)

log = logging.getLogger(__name__)

__all__ = [
    "ConcurrentTransition",
    "IllegalTransition",
    "LeaseHandle",
    "LeaseUnavailable",
    "NotFound",
    "Store",
    "StoreError",
]

#: Snapshot columns a caller may set along with a transition or on their own.
SNAPSHOT_FIELDS = frozenset({"extractor_id", "crawl_run_id", "input_count", "row_count", "artifacts", "options"})
#: Attempts of a write that lost a race on a unique key (the retry then reads the winner's row).
_RETRIES = 5


class StoreError(Exception):
    """Base class of the store's own errors."""


class NotFound(StoreError, LookupError):
    """No row with that id."""


class LeaseUnavailable(StoreError):
    """Another holder has the extractor's lease; names it and when the lease expires."""

    def __init__(self, extractor_id: str, holder: str, current: Lease | None) -> None:
        self.extractor_id, self.holder, self.current = extractor_id, holder, current
        who = (f"held by {current.holder} until {current.expires_at.isoformat()}" if current
               else "held by another holder")
        super().__init__(f"extractor {extractor_id}: lease for {holder} unavailable, {who}")


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _seconds(ttl: float | timedelta) -> timedelta:
    delta = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
    if delta <= timedelta(0):
        raise ValueError(f"lease ttl must be positive, got {ttl!r}")
    return delta


class Store:
    """The store behind one SQLAlchemy engine. Thread-safe; cheap to share in a process.

    :param engine: an engine from :func:`~airflow_provider_importio.store.engine.create_store_engine`
        (SQLite needs its settings).
    :param clock: returns the current time (timezone-aware); tests pass a fake one.
    """

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._read_engine = engine.execution_options(**{READ_ONLY: True})
        self._clock = clock
        #: Test hook, called inside a transition's transaction between its read and its write.
        self._after_read: Callable[[Connection, str], None] | None = None

    @classmethod
    def from_url(cls, url: str | sa.engine.URL, *, clock: Clock = utcnow, **engine_kwargs: Any) -> Store:
        """A store at *url* (``sqlite:///path.db``, ``postgresql+psycopg://user:pw@host/db``; plain
        ``postgresql://`` means psycopg 3). Does not migrate: call :meth:`migrate`."""
        return cls(create_store_engine(url, **engine_kwargs), clock=clock)

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return masked(self.engine.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url})"

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> str:
        """Upgrade the schema to the newest revision shipped with the package (a no-op when it is
        there already; safe to run from several processes at once). Returns the revision."""
        if _migrate.at_head(self.engine):  # the usual case, without Alembic
            return _migrate.HEAD_REVISION
        _migrate.upgrade(self.engine)
        revision = self.schema_revision()
        assert revision is not None
        return revision

    def schema_revision(self) -> str | None:
        """The migration revision the database is at (``None`` before :meth:`migrate`)."""
        return _migrate.current_revision(self.engine)

    @staticmethod
    def head_revision() -> str:
        """The newest migration revision shipped with the package."""
        return _migrate.head_revision()

    # -- plumbing ---------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock returned a naive datetime")
        return now.astimezone(timezone.utc)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._read_engine.connect() as conn:
            yield conn

    def _write(self) -> Any:
        return self.engine.begin()

    def _retrying(self, what: str, work: Callable[[Connection], Any]) -> Any:
        """Run *work* in a write transaction, again if it lost a race on a unique key."""
        for attempt in range(_RETRIES):
            try:
                with self._write() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
                log.debug("%s lost a race on a unique key; retrying", what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_ignoring_conflict(self, conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
        """``INSERT ... ON CONFLICT DO NOTHING``; whether a row was inserted."""
        name = conn.dialect.name
        if name in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            module: Any = sqlite if name == "sqlite" else postgresql
            statement = module.insert(table).values(**values).on_conflict_do_nothing()
            if conn.dialect.insert_returning:  # psycopg reports no rowcount for this INSERT
                key = next(iter(table.primary_key.columns))
                return conn.execute(statement.returning(key)).first() is not None
            return conn.execute(statement).rowcount == 1
        try:  # pragma: no cover - other databases
            with conn.begin_nested():
                conn.execute(table.insert().values(**values))
        except IntegrityError:  # pragma: no cover
            return False
        return True  # pragma: no cover

    # -- deliveries -------------------------------------------------------------------------

    def get_or_create_delivery(self, project: str, flow: str, run_id: str, *, dag_id: str,
                               start: datetime | None = None) -> Delivery:
        """The delivery of this flow run, created OPEN the first time (a task retry finds it)."""

        def work(conn: Connection) -> Delivery:
            row = self._delivery_row(conn, project, flow, run_id)
            if row is None:
                now = self._now()
                conn.execute(deliveries.insert().values(
                    id=str(uuid.uuid4()), project=project, flow=flow, dag_id=dag_id, run_id=run_id,
                    start=start, state=DeliveryState.OPEN.value, created_at=now, closed_at=None,
                ))
                row = self._delivery_row(conn, project, flow, run_id)
            return Delivery.from_row(row._mapping)

        return self._retrying("get_or_create_delivery", work)

    @staticmethod
    def _delivery_row(conn: Connection, project: str, flow: str, run_id: str) -> Any:
        return conn.execute(sa.select(deliveries).where(
            deliveries.c.project == project, deliveries.c.flow == flow, deliveries.c.run_id == run_id,
        )).first()

    def get_delivery(self, delivery_id: str) -> Delivery:
        with self._read() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        return Delivery.from_row(row._mapping)

    def find_delivery(self, project: str, flow: str, run_id: str) -> Delivery | None:
        with self._read() as conn:
            row = self._delivery_row(conn, project, flow, run_id)
        return Delivery.from_row(row._mapping) if row is not None else None

    def deliveries(self, *, project: str | None = None, flow: str | None = None,
                   state: DeliveryState | str | None = None) -> list[Delivery]:
        """Deliveries, newest first."""
        query = sa.select(deliveries).order_by(deliveries.c.created_at.desc(), deliveries.c.id)
        if project is not None:
            query = query.where(deliveries.c.project == project)
        if flow is not None:
            query = query.where(deliveries.c.flow == flow)
        if state is not None:
            query = query.where(deliveries.c.state == DeliveryState(state).value)
        with self._read() as conn:
            return [Delivery.from_row(r._mapping) for r in conn.execute(query)]

    def close_delivery(self, delivery_id: str) -> Delivery:
        """Mark the delivery CLOSED (idempotent)."""
        with self._write() as conn:
            conn.execute(deliveries.update().where(
                deliveries.c.id == delivery_id, deliveries.c.state == DeliveryState.OPEN.value,
            ).values(state=DeliveryState.CLOSED.value, closed_at=self._now()))
            row = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        return Delivery.from_row(row._mapping)

    # -- snapshots --------------------------------------------------------------------------

    def get_or_create_snapshot(
        self, delivery_id: str, collection: str, source: str, chunk: int = 0, *, actor: str,
        extractor_id: str | None = None, input_count: int | None = None,
        options: Mapping[str, Any] | None = None, initial_state: SnapshotState | str = SnapshotState.START_PENDING,
        reason: str | None = None,
    ) -> Snapshot:
        """The live (not SUPERCEDED) snapshot of this delivery, source and chunk; created in
        *initial_state*, with a history row, when there is none. A re-run of the same task gets the
        same snapshot back, whatever state it has reached."""
        state = check_initial(initial_state)

        def work(conn: Connection) -> Snapshot:
            # One statement reads the latest attempt: with two (READ COMMITTED) reads, a racer
            # committing in between could make us insert a second live snapshot as attempt 2.
            latest = self._latest_row(conn, delivery_id, collection, source, chunk)
            if latest is not None and latest.state != SnapshotState.SUPERCEDED.value:
                return Snapshot.from_row(latest._mapping)
            delivery = conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id)).first()
            if delivery is None:
                raise NotFound(f"no delivery {delivery_id}")
            attempt = (latest.attempt if latest is not None else 0) + 1
            return self._insert_snapshot(
                conn, delivery=delivery._mapping, collection=collection, source=source, chunk=chunk,
                attempt=attempt, state=state, actor=actor, reason=reason or "created",
                extractor_id=extractor_id, input_count=input_count, options=dict(options or {}),
            )

        return self._retrying("get_or_create_snapshot", work)

    def _insert_snapshot(self, conn: Connection, *, delivery: Mapping[Any, Any], collection: str, source: str,
                         chunk: int, attempt: int, state: SnapshotState, actor: str, reason: str | None,
                         supersedes: str | None = None, **fields: Any) -> Snapshot:
        now = self._now()
        snapshot_id = str(uuid.uuid4())
        values = {"artifacts": {}, "options": {}, **self._checked_fields(fields)}
        conn.execute(snapshots.insert().values(
            id=snapshot_id, delivery_id=delivery["id"], project=delivery["project"], flow=delivery["flow"],
            collection=collection, source=source, chunk=chunk, attempt=attempt, supersedes=supersedes,
            state=state.value, state_reason=reason, created_at=now, updated_at=now, version=1, **values,
        ))
        conn.execute(snapshot_transitions.insert().values(
            snapshot_id=snapshot_id, version=1, from_state=None, to_state=state.value, actor=actor, at=now,
            reason=reason,
        ))
        return Snapshot.from_row(self._snapshot_row(conn, snapshot_id)._mapping)

    @staticmethod
    def _live_row(conn: Connection, delivery_id: str, collection: str, source: str, chunk: int) -> Any:
        return conn.execute(sa.select(snapshots).where(
            snapshots.c.delivery_id == delivery_id, snapshots.c.collection == collection,
            snapshots.c.source == source, snapshots.c.chunk == chunk,
            snapshots.c.state != SnapshotState.SUPERCEDED.value,
        ).order_by(snapshots.c.attempt.desc()).limit(1)).first()

    @staticmethod
    def _latest_row(conn: Connection, delivery_id: str, collection: str, source: str, chunk: int) -> Any:
        return conn.execute(sa.select(snapshots).where(
            snapshots.c.delivery_id == delivery_id, snapshots.c.collection == collection,
            snapshots.c.source == source, snapshots.c.chunk == chunk,
        ).order_by(snapshots.c.attempt.desc()).limit(1)).first()

    @staticmethod
    def _last_attempt(conn: Connection, delivery_id: str, collection: str, source: str, chunk: int) -> int:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(snapshots.c.attempt), 0)).where(
            snapshots.c.delivery_id == delivery_id, snapshots.c.collection == collection,
            snapshots.c.source == source, snapshots.c.chunk == chunk,
        )).scalar_one()

    @staticmethod
    def _snapshot_row(conn: Connection, snapshot_id: str) -> Any:
        row = conn.execute(sa.select(snapshots).where(snapshots.c.id == snapshot_id)).first()
        if row is None:
            raise NotFound(f"no snapshot {snapshot_id}")
        return row

    @staticmethod
    def _checked_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - SNAPSHOT_FIELDS
        if unknown:
            raise TypeError(f"unknown snapshot field(s) {sorted(unknown)}; settable: {sorted(SNAPSHOT_FIELDS)}")
        values = dict(fields)
        for key in ("artifacts", "options"):
            if key in values:
                values[key] = dict(values[key] or {})
        return values

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        with self._read() as conn:
            return Snapshot.from_row(self._snapshot_row(conn, snapshot_id)._mapping)

    def live_snapshot(self, delivery_id: str, collection: str, source: str, chunk: int = 0) -> Snapshot | None:
        """The live (not SUPERCEDED) snapshot of a delivery, source and chunk, if any."""
        with self._read() as conn:
            row = self._live_row(conn, delivery_id, collection, source, chunk)
        return Snapshot.from_row(row._mapping) if row is not None else None

    def snapshots(
        self, *, delivery_id: str | None = None,
        state: SnapshotState | str | Iterable[SnapshotState | str] | None = None,
        project: str | None = None, flow: str | None = None, collection: str | None = None,
        source: str | None = None, crawl_run_id: str | None = None, live_only: bool = False,
    ) -> list[Snapshot]:
        """Snapshots matching every filter given, oldest first (*state*: one or several)."""
        query = sa.select(snapshots).order_by(snapshots.c.created_at, snapshots.c.chunk, snapshots.c.attempt)
        for column, value in ((snapshots.c.delivery_id, delivery_id), (snapshots.c.project, project),
                              (snapshots.c.flow, flow), (snapshots.c.collection, collection),
                              (snapshots.c.source, source), (snapshots.c.crawl_run_id, crawl_run_id)):
            if value is not None:
                query = query.where(column == value)
        if state is not None:
            states = [state] if isinstance(state, (str, SnapshotState)) else list(state)
            query = query.where(snapshots.c.state.in_([SnapshotState.parse(s).value for s in states]))
        if live_only:
            query = query.where(snapshots.c.state != SnapshotState.SUPERCEDED.value)
        with self._read() as conn:
            return [Snapshot.from_row(r._mapping) for r in conn.execute(query)]

    def snapshot_state_counts(self, *, project: str | None = None, flow: str | None = None,
                              delivery_id: str | None = None) -> dict[SnapshotState, int]:
        """How many snapshots are in each state (the alarms' ``snapshots.status.<STATE>``)."""
        query = sa.select(snapshots.c.state, sa.func.count()).group_by(snapshots.c.state)
        for column, value in ((snapshots.c.project, project), (snapshots.c.flow, flow),
                              (snapshots.c.delivery_id, delivery_id)):
            if value is not None:
                query = query.where(column == value)
        with self._read() as conn:
            counts = {SnapshotState(state): count for state, count in conn.execute(query)}
        return {state: counts.get(state, 0) for state in SnapshotState}

    def transition(self, snapshot_id: str, to_state: SnapshotState | str, *, actor: str, reason: str | None = None,
                   expected_state: SnapshotState | str | None = None, **fields: Any) -> Snapshot:
        """Move the snapshot to *to_state*, in one transaction with its history row (*actor*, the
        time, *reason*), also setting any of :data:`SNAPSHOT_FIELDS` given as keywords.

        Raises :class:`IllegalTransition` for a move the state machine forbids (nothing is
        written), :class:`ConcurrentTransition` when another worker moved it first or it is not in
        *expected_state*, :class:`NotFound` for an unknown id.
        """
        target = SnapshotState.parse(to_state)
        expected = SnapshotState.parse(expected_state) if expected_state is not None else None
        values = self._checked_fields(fields)
        for _ in range(_RETRIES):
            with self._write() as conn:
                row = self._snapshot_row(conn, snapshot_id)
                current = SnapshotState(row.state)
                if expected is not None and current != expected:
                    raise ConcurrentTransition(snapshot_id, expected, current, target)
                check_transition(current, target, snapshot_id)
                if self._after_read is not None:
                    self._after_read(conn, snapshot_id)
                now = self._now()
                updated = conn.execute(snapshots.update().where(
                    snapshots.c.id == snapshot_id, snapshots.c.state == current.value,
                    snapshots.c.version == row.version,
                ).values(state=target.value, state_reason=reason, updated_at=now, version=row.version + 1,
                         **values))
                if updated.rowcount == 1:
                    conn.execute(snapshot_transitions.insert().values(
                        snapshot_id=snapshot_id, version=row.version + 1, from_state=current.value,
                        to_state=target.value, actor=actor, at=now, reason=reason,
                    ))
                    return Snapshot.from_row(self._snapshot_row(conn, snapshot_id)._mapping)
                found = SnapshotState(self._snapshot_row(conn, snapshot_id).state)
            if found != current:
                raise ConcurrentTransition(snapshot_id, current, found, target)
            log.debug("snapshot %s changed (not its state) while moving it; retrying", snapshot_id)
        raise ConcurrentTransition(snapshot_id, current, found, target)

    def update_snapshot(self, snapshot_id: str, **fields: Any) -> Snapshot:
        """Set some of :data:`SNAPSHOT_FIELDS` without moving the snapshot (bumps its version)."""
        values = self._checked_fields(fields)
        with self._write() as conn:
            self._snapshot_row(conn, snapshot_id)
            conn.execute(snapshots.update().where(snapshots.c.id == snapshot_id).values(
                updated_at=self._now(), version=snapshots.c.version + 1, **values))
            return Snapshot.from_row(self._snapshot_row(conn, snapshot_id)._mapping)

    def supersede(self, snapshot_id: str, *, actor: str, reason: str,
                  new_state: SnapshotState | str = SnapshotState.START_PENDING,
                  expected_state: SnapshotState | str | None = None, **fields: Any) -> Snapshot:
        """Workbench's re-run (*new_state* START_PENDING) or re-import / re-extract
        (PENDING_IMPORT, keeping the crawl run): in one transaction, move the snapshot to
        SUPERCEDED and create its replacement (next ``attempt``, ``supersedes`` set). Returns the
        replacement. The extractor, input count and options are carried over unless given."""
        state = check_initial(new_state, snapshot_id)
        expected = SnapshotState.parse(expected_state) if expected_state is not None else None
        target = SnapshotState.SUPERCEDED
        extra = self._checked_fields(fields)
        with self._write() as conn:
            row = self._snapshot_row(conn, snapshot_id)
            current = SnapshotState(row.state)
            if expected is not None and current != expected:
                raise ConcurrentTransition(snapshot_id, expected, current, target)
            check_transition(current, target, snapshot_id)
            now = self._now()
            updated = conn.execute(snapshots.update().where(
                snapshots.c.id == snapshot_id, snapshots.c.state == current.value, snapshots.c.version == row.version,
            ).values(state=target.value, state_reason=reason, updated_at=now, version=row.version + 1))
            if updated.rowcount != 1:
                found = SnapshotState(self._snapshot_row(conn, snapshot_id).state)
                raise ConcurrentTransition(snapshot_id, current, found, target)
            conn.execute(snapshot_transitions.insert().values(
                snapshot_id=snapshot_id, version=row.version + 1, from_state=current.value, to_state=target.value,
                actor=actor, at=now, reason=reason,
            ))
            carried = {"extractor_id": row.extractor_id, "input_count": row.input_count, "options": row.options}
            if state is SnapshotState.PENDING_IMPORT:
                carried["crawl_run_id"] = row.crawl_run_id
            delivery = conn.execute(sa.select(deliveries).where(deliveries.c.id == row.delivery_id)).one()
            attempt = self._last_attempt(conn, row.delivery_id, row.collection, row.source, row.chunk) + 1
            return self._insert_snapshot(
                conn, delivery=delivery._mapping, collection=row.collection, source=row.source, chunk=row.chunk,
                attempt=attempt, state=state, actor=actor, reason=reason, supersedes=snapshot_id,
                **{**carried, **extra},
            )

    def history(self, snapshot_id: str) -> list[Transition]:
        """The snapshot's transitions, oldest first (the first records its creation)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(snapshot_transitions).where(
                snapshot_transitions.c.snapshot_id == snapshot_id,
            ).order_by(snapshot_transitions.c.version, snapshot_transitions.c.id)).all()
        return [Transition.from_row(r._mapping) for r in rows]

    # -- statistics -------------------------------------------------------------------------

    def record_stats(self, snapshot_id: str, stats: Mapping[str, float | int | None]) -> None:
        """Store (replace) the named statistics of a snapshot."""
        with self._write() as conn:
            row = self._snapshot_row(conn, snapshot_id)
            if not stats:
                return
            now = self._now()
            conn.execute(snapshot_stats.delete().where(
                snapshot_stats.c.snapshot_id == snapshot_id, snapshot_stats.c.name.in_(list(stats)),
            ))
            conn.execute(snapshot_stats.insert(), [
                {"snapshot_id": snapshot_id, "name": name, "collection": row.collection, "source": row.source,
                 "value": None if value is None else float(value), "recorded_at": now}
                for name, value in stats.items()
            ])

    def snapshot_stats(self, snapshot_id: str) -> dict[str, float | None]:
        with self._read() as conn:
            rows = conn.execute(sa.select(snapshot_stats.c.name, snapshot_stats.c.value).where(
                snapshot_stats.c.snapshot_id == snapshot_id).order_by(snapshot_stats.c.name)).all()
        return {name: value for name, value in rows}

    def source_stats(
        self, collection: str, source: str, name: str, *,
        states: Iterable[SnapshotState | str] = (SnapshotState.PASSED_QA, SnapshotState.PUSHED),
        before: datetime | None = None, exclude_snapshot: str | None = None, limit: int = 20,
    ) -> list[StatValue]:
        """A statistic of a source's earlier snapshots in *states* ("good data"), newest first,
        for comparing a new snapshot with its history."""
        query = (
            sa.select(snapshot_stats, snapshots.c.created_at)
            .join(snapshots, snapshots.c.id == snapshot_stats.c.snapshot_id)
            .where(snapshot_stats.c.collection == collection, snapshot_stats.c.source == source,
                   snapshot_stats.c.name == name,
                   snapshots.c.state.in_([SnapshotState.parse(s).value for s in states]))
            .order_by(snapshots.c.created_at.desc(), snapshots.c.id)
            .limit(limit)
        )
        if before is not None:
            query = query.where(snapshots.c.created_at < before)
        if exclude_snapshot is not None:
            query = query.where(snapshot_stats.c.snapshot_id != exclude_snapshot)
        with self._read() as conn:
            return [StatValue(r.snapshot_id, r.collection, r.source, r.name, r.value, r.recorded_at)
                    for r in conn.execute(query)]

    # -- pushes -----------------------------------------------------------------------------

    def record_push(self, snapshot_id: str, destination: str, status: PushStatus | str, *, actor: str,
                    uri: str | None = None, byte_count: int | None = None, row_count: int | None = None,
                    error: str | None = None) -> Push:
        """Record one push attempt of a snapshot to a destination (attempts count 1, 2, ... per
        snapshot and destination). It does not move the snapshot: call :meth:`transition`."""
        push_status = PushStatus(status)

        def work(conn: Connection) -> Push:
            self._snapshot_row(conn, snapshot_id)
            attempt = conn.execute(sa.select(sa.func.coalesce(sa.func.max(pushes.c.attempt), 0)).where(
                pushes.c.snapshot_id == snapshot_id, pushes.c.destination == destination)).scalar_one() + 1
            conn.execute(pushes.insert().values(
                snapshot_id=snapshot_id, destination=destination, attempt=attempt, status=push_status.value,
                uri=uri, byte_count=byte_count, row_count=row_count, error=error, actor=actor, at=self._now(),
            ))
            row = conn.execute(sa.select(pushes).where(
                pushes.c.snapshot_id == snapshot_id, pushes.c.destination == destination,
                pushes.c.attempt == attempt)).one()
            return Push.from_row(row._mapping)

        return self._retrying("record_push", work)

    def pushes(self, *, snapshot_id: str | None = None, destination: str | None = None,
               status: PushStatus | str | None = None) -> list[Push]:
        """Push attempts, oldest first."""
        query = sa.select(pushes).order_by(pushes.c.at, pushes.c.id)
        if snapshot_id is not None:
            query = query.where(pushes.c.snapshot_id == snapshot_id)
        if destination is not None:
            query = query.where(pushes.c.destination == destination)
        if status is not None:
            query = query.where(pushes.c.status == PushStatus(status).value)
        with self._read() as conn:
            return [Push.from_row(r._mapping) for r in conn.execute(query)]

    # -- alarm states -----------------------------------------------------------------------

    def alarm_state(self, alarm_group: str) -> AlarmState | None:
        with self._read() as conn:
            row = conn.execute(sa.select(alarm_states).where(alarm_states.c.alarm_group == alarm_group)).first()
        return AlarmState.from_row(row._mapping) if row is not None else None

    def alarm_states(self) -> list[AlarmState]:
        with self._read() as conn:
            rows = conn.execute(sa.select(alarm_states).order_by(alarm_states.c.alarm_group)).all()
        return [AlarmState.from_row(r._mapping) for r in rows]

    def set_alarm_state(self, alarm_group: str, state: str, details: Mapping[str, Any] | None = None) -> AlarmChange:
        """Record an evaluation of an alarm group. ``since`` moves only when the state changes;
        of two evaluators recording the same change, only one sees ``changed``."""

        def work(conn: Connection) -> AlarmChange:
            now = self._now()
            row = conn.execute(sa.select(alarm_states).where(alarm_states.c.alarm_group == alarm_group)
                               .with_for_update()).first()
            if row is None:
                conn.execute(alarm_states.insert().values(alarm_group=alarm_group, state=state, since=now,
                                                          last_evaluated=now, details=dict(details or {})))
                previous = None
            else:
                previous = row.state
                conn.execute(alarm_states.update().where(alarm_states.c.alarm_group == alarm_group).values(
                    state=state, since=now if state != previous else row.since, last_evaluated=now,
                    details=dict(details or {})))
            current = conn.execute(sa.select(alarm_states).where(alarm_states.c.alarm_group == alarm_group)).one()
            return AlarmChange(previous, AlarmState.from_row(current._mapping))

        return self._retrying("set_alarm_state", work)

    # -- extractor leases -------------------------------------------------------------------

    def _acquire(self, extractor_id: str, holder: str, ttl: float | timedelta) -> str | None:
        """``"held"`` (already ours: extended), ``"acquired"`` or ``None`` (someone else's)."""
        delta = _seconds(ttl)
        with self._write() as conn:
            now = self._now()
            mine = conn.execute(extractor_leases.update().where(
                extractor_leases.c.extractor_id == extractor_id, extractor_leases.c.holder == holder,
            ).values(expires_at=now + delta))
            if mine.rowcount == 1:
                return "held"
            expired = conn.execute(extractor_leases.update().where(
                extractor_leases.c.extractor_id == extractor_id, extractor_leases.c.expires_at <= now,
            ).values(holder=holder, acquired_at=now, expires_at=now + delta))
            if expired.rowcount == 1:
                return "acquired"
            inserted = self._insert_ignoring_conflict(conn, extractor_leases, {
                "extractor_id": extractor_id, "holder": holder, "acquired_at": now, "expires_at": now + delta,
            })
            return "acquired" if inserted else None

    def acquire_lease(self, extractor_id: str, holder: str, ttl: float | timedelta) -> bool:
        """Take the extractor's lease for *ttl* (seconds or a timedelta) if it is free, expired or
        already *holder*'s (then it is extended). Atomic: of concurrent callers exactly one wins."""
        return self._acquire(extractor_id, holder, ttl) is not None

    def renew_lease(self, extractor_id: str, holder: str, ttl: float | timedelta) -> bool:
        """Extend *holder*'s lease to now + *ttl*; ``False`` if someone else has taken it."""
        delta = _seconds(ttl)
        with self._write() as conn:
            return conn.execute(extractor_leases.update().where(
                extractor_leases.c.extractor_id == extractor_id, extractor_leases.c.holder == holder,
            ).values(expires_at=self._now() + delta)).rowcount == 1

    def release_lease(self, extractor_id: str, holder: str) -> bool:
        """Give up *holder*'s lease; ``False`` if it was not theirs (any more)."""
        with self._write() as conn:
            return conn.execute(extractor_leases.delete().where(
                extractor_leases.c.extractor_id == extractor_id, extractor_leases.c.holder == holder,
            )).rowcount == 1

    def lease_holder(self, extractor_id: str) -> Lease | None:
        """The extractor's current lease, if it has an unexpired one."""
        with self._read() as conn:
            row = conn.execute(sa.select(extractor_leases).where(
                extractor_leases.c.extractor_id == extractor_id,
                extractor_leases.c.expires_at > self._now())).first()
        return Lease.from_row(row._mapping) if row is not None else None

    def first_waiting(self, extractor_id: str) -> str | None:
        """The snapshot next in line for the extractor: its oldest START_PENDING one (then lowest chunk)."""
        query = (sa.select(snapshots.c.id)
                 .where(snapshots.c.extractor_id == extractor_id,
                        snapshots.c.state == SnapshotState.START_PENDING.value)
                 .order_by(snapshots.c.created_at, snapshots.c.chunk, snapshots.c.source).limit(1))
        with self._read() as conn:
            return conn.execute(query).scalar()

    @contextmanager
    def lease(self, extractor_id: str, holder: str, ttl: float | timedelta, *, wait: float = 0.0,
              poll: float = 1.0, heartbeat: float | None = None) -> Iterator[LeaseHandle]:
        """Hold the extractor's lease for the block, so two runs of one extractor never interleave.

        Waits up to *wait* seconds (polling every *poll*) for another holder to release it, then
        raises :class:`LeaseUnavailable`. With *heartbeat* (seconds), a background thread renews
        the lease that often; ``handle.lost`` tells whether a renewal failed. Re-entrant: a nested
        ``lease`` by the same holder extends it and leaves the release to the outer one.
        """
        delta = _seconds(ttl)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            outcome = self._acquire(extractor_id, holder, delta)
            if outcome is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LeaseUnavailable(extractor_id, holder, self.lease_holder(extractor_id))
            time.sleep(min(poll, remaining))
        handle = LeaseHandle(self, extractor_id, holder, delta, reentered=outcome == "held")
        if heartbeat:
            handle._start_heartbeat(heartbeat)
        try:
            yield handle
        finally:
            handle._stop_heartbeat()
            if not handle.reentered:
                self.release_lease(extractor_id, holder)


class LeaseHandle:
    """A held extractor lease (from :meth:`Store.lease`)."""

    def __init__(self, store: Store, extractor_id: str, holder: str, ttl: timedelta, *, reentered: bool) -> None:
        self.store, self.extractor_id, self.holder, self.ttl = store, extractor_id, holder, ttl
        self.reentered = reentered
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """Whether a renewal found the lease taken by someone else."""
        return self._lost.is_set()

    def renew(self) -> bool:
        """Extend the lease by its ttl from now; ``False`` (and :attr:`lost`) if it was taken."""
        try:
            ok = self.store.renew_lease(self.extractor_id, self.holder, self.ttl)
        except Exception:  # a database blip: try again at the next beat
            log.warning("renewing the lease on extractor %s failed", self.extractor_id, exc_info=True)
            return False
        if not ok:
            self._lost.set()
            log.error("lease on extractor %s was taken from %s", self.extractor_id, self.holder)
        return ok

    def _start_heartbeat(self, every: float) -> None:
        def beat() -> None:
            while not self._stop.wait(every):
                if not self.renew() and self.lost:
                    return

        self._thread = threading.Thread(target=beat, name=f"lease-{self.extractor_id}", daemon=True)
        self._thread.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
