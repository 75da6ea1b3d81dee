"""The store against real databases: SQLite files and a PostgreSQL server started for the session."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from airflow_provider_importio.store import migrate as store_migrate
from airflow_provider_importio.store.records import DeliveryState, PushStatus
from airflow_provider_importio.store.schema import VERSION_TABLE, metadata
from airflow_provider_importio.store.store import LeaseUnavailable, NotFound, Store
from airflow_provider_importio.workbench.snapshot_states import (
    ConcurrentTransition,
    IllegalTransition,
    SnapshotState,
)

S = SnapshotState
TABLES = {"deliveries", "snapshots", "snapshot_transitions", "snapshot_stats", "pushes", "alarm_states",
          "extractor_leases"}


def _delivery(store: Store, run_id: str = "scheduled__2026-01-05T12:00:00+00:00"):
    return store.get_or_create_delivery("shop", "daily", run_id, dag_id="importio_shop_daily",
                                        start=datetime(2026, 1, 5, tzinfo=timezone.utc))


def _snapshot(store: Store, chunk: int = 0, **kw):
    delivery = _delivery(store)
    return store.get_or_create_snapshot(delivery.id, "products", "shop-uk", chunk, actor="tester",
                                        extractor_id="ext-1", input_count=10, **kw)


def _race(stores: list[Store], action) -> list[object]:
    """Run action(store) in one thread per store, released together; the outcomes in order."""
    barrier = threading.Barrier(len(stores))
    outcomes: list[object] = [None] * len(stores)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = action(stores[i])
        except Exception as exc:  # collected and asserted by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


# -- schema -------------------------------------------------------------------------------------


def test_migrate_creates_the_schema_and_is_idempotent(store_url):
    with Store.from_url(store_url) as store:
        assert store.schema_revision() is None
        head = store.head_revision()
        assert store.migrate() == head == "0002"
        assert TABLES | {VERSION_TABLE} <= set(sa.inspect(store.engine).get_table_names())
        assert store.migrate() == head  # a no-op the second time
        assert store_migrate.current_revision(store.engine) == head
        with store.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == [head]

            # Alembic's own view: the database is at head and matches schema.py exactly.
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            assert context.get_current_revision() == head
            assert compare_metadata(context, metadata) == []


def test_a_store_at_head_is_recognised_with_one_query_and_an_older_one_is_upgraded(store_url):
    assert store_migrate.HEAD_REVISION == store_migrate.head_revision()  # the constant follows the scripts
    with Store.from_url(store_url) as store:
        assert not store_migrate.at_head(store.engine)  # no version table yet
        store_migrate.upgrade(store.engine, "0001")
        assert not store_migrate.at_head(store.engine)
        assert store.migrate() == "0002" and store.schema_revision() == "0002"
        assert store_migrate.at_head(store.engine)


CHECK_WITHOUT_ALEMBIC = """
import sys
from airflow_provider_importio.store.store import Store
with Store.from_url(sys.argv[1]) as store:
    print(store.migrate(), "alembic" in sys.modules)
"""


def test_a_task_start_on_a_migrated_store_does_not_import_alembic(store_url):
    with Store.from_url(store_url) as store:
        store.migrate()
    done = subprocess.run([sys.executable, "-c", CHECK_WITHOUT_ALEMBIC, store_url], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0002", "False"]


MIGRATE_WHEN_TOLD = """
import os, sys, time
from airflow_provider_importio.store.store import Store
store = Store.from_url(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
print(store.migrate())
"""


def test_concurrent_first_use_migrates_once(store_url, tmp_path):
    """Two worker processes create the schema at the same moment: both succeed, DDL runs once."""
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE_WHEN_TOLD, store_url, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:  # all imported and waiting
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
    go.touch()
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["0002"] * 2
    with Store.from_url(store_url) as store:
        assert store.schema_revision() == "0002"


def test_offline_sql_for_a_dba():
    sql = store_migrate.upgrade_sql("postgresql://u:secret@db.example/importio")
    assert "CREATE TABLE snapshots" in sql and "TIMESTAMP WITH TIME ZONE" in sql
    assert f"INSERT INTO {VERSION_TABLE}" in sql and "secret" not in sql


# -- deliveries and snapshots -------------------------------------------------------------------


def test_get_or_create_is_idempotent(store):
    delivery = _delivery(store)
    assert _delivery(store) == delivery
    assert delivery.state is DeliveryState.OPEN and delivery.start.tzinfo is not None
    first = _snapshot(store)
    again = _snapshot(store)
    assert again.id == first.id and again.version == 1 and first.attempt == 1
    assert first.state is S.START_PENDING and (first.project, first.flow) == ("shop", "daily")
    assert len(store.history(first.id)) == 1  # the creation row only
    other_chunk = _snapshot(store, chunk=1)
    assert other_chunk.id != first.id
    # After moving on, a re-run of the task still finds the same snapshot, not a new one.
    store.transition(first.id, S.STARTED, actor="worker", crawl_run_id="run-1")
    assert _snapshot(store).id == first.id
    assert {s.id for s in store.snapshots(delivery_id=delivery.id)} == {first.id, other_chunk.id}
    assert [s.id for s in store.snapshots(state=S.STARTED)] == [first.id]
    assert [s.id for s in store.snapshots(crawl_run_id="run-1")] == [first.id]
    with pytest.raises(NotFound):
        store.get_or_create_snapshot("no-such-delivery", "products", "shop-uk", actor="tester")


def test_concurrent_get_or_create_makes_one_snapshot(store_url, store):
    delivery = _delivery(store)
    stores = [Store.from_url(store_url) for _ in range(4)]
    try:
        outcomes = _race(stores, lambda s: s.get_or_create_snapshot(delivery.id, "products", "shop-de", actor="w"))
    finally:
        for other in stores:
            other.close()
    assert len({o.id for o in outcomes}) == 1, outcomes
    assert len(store.snapshots(delivery_id=delivery.id)) == 1


def test_transitions_write_history_with_actor_reason_and_time(store_url, clock):
    with Store.from_url(store_url, clock=clock) as store:
        store.migrate()
        snap = _snapshot(store)
        clock.advance(60)
        started = store.transition(snap.id, S.STARTED, actor="task:collect/0", reason="crawl started",
                                   crawl_run_id="run-1")
        clock.advance(60)
        imported = store.transition(snap.id, "PENDING_IMPORT", actor="task:collect/0", reason="crawl finished",
                                    row_count=42, artifacts={"json": "s3://b/run-1.json"})
        history = store.history(snap.id)
    assert (started.state, started.crawl_run_id, started.version) == (S.STARTED, "run-1", 2)
    assert (imported.row_count, imported.artifacts, imported.state_reason) == (
        42, {"json": "s3://b/run-1.json"}, "crawl finished")
    assert imported.updated_at == clock.now and imported.created_at == clock.now - timedelta(seconds=120)
    assert [(t.from_state, t.to_state, t.actor, t.reason, t.version) for t in history] == [
        (None, S.START_PENDING, "tester", "created", 1),
        (S.START_PENDING, S.STARTED, "task:collect/0", "crawl started", 2),
        (S.STARTED, S.PENDING_IMPORT, "task:collect/0", "crawl finished", 3),
    ]
    assert [t.at for t in history] == [clock.now - timedelta(seconds=s) for s in (120, 60, 0)]
    assert all(t.at.tzinfo is timezone.utc for t in history)


def test_a_disallowed_transition_raises_and_writes_nothing(store):
    snap = _snapshot(store)
    with pytest.raises(IllegalTransition) as info:
        store.transition(snap.id, S.PUSHED, actor="worker", reason="too early", row_count=5)
    assert "from START_PENDING to PUSHED" in str(info.value) and snap.id in str(info.value)
    assert len(store.history(snap.id)) == 1
    after = store.get_snapshot(snap.id)
    assert (after.state, after.version, after.row_count) == (S.START_PENDING, 1, None)
    with pytest.raises(TypeError, match="unknown snapshot field"):
        store.transition(snap.id, S.STARTED, actor="worker", colour="red")
    with pytest.raises(NotFound):
        store.transition("missing", S.STARTED, actor="worker")


def test_expected_state_guards_the_move(store):
    snap = _snapshot(store)
    with pytest.raises(ConcurrentTransition, match="it is now START_PENDING"):
        store.transition(snap.id, S.START_PENDING, actor="ops", expected_state=S.START_FAILED)
    store.transition(snap.id, S.START_FAILED, actor="worker", reason="400 crawl already in progress")
    retried = store.transition(snap.id, S.START_PENDING, actor="ops", reason="retry start",
                               expected_state=S.START_FAILED)
    assert retried.state is S.START_PENDING and retried.version == 3


@pytest.mark.parametrize("workers", [2, 6])
def test_racing_workers_exactly_one_wins(store_url, store, workers):
    stores = [Store.from_url(store_url) for _ in range(workers)]
    try:
        for chunk in range(3):
            snap = _snapshot(store, chunk=chunk)
            outcomes = _race(stores, lambda s, snap_id=snap.id: s.transition(
                snap_id, S.STARTED, actor=f"w{id(s)}", crawl_run_id=f"run-{id(s)}"))
            winners = [o for o in outcomes if not isinstance(o, Exception)]
            losers = [o for o in outcomes if isinstance(o, Exception)]
            assert len(winners) == 1, outcomes
            assert all(isinstance(o, IllegalTransition) for o in losers), losers
            assert all("STARTED" in str(o) for o in losers)
            history = store.history(snap.id)
            assert [t.to_state for t in history] == [S.START_PENDING, S.STARTED]
            assert store.get_snapshot(snap.id).crawl_run_id == winners[0].crawl_run_id
    finally:
        for other in stores:
            other.close()


def test_a_stale_read_loses_to_the_conditional_update(store_url, store):
    """Another worker commits between our read and our write: the UPDATE's WHERE state/version
    matches nothing, and we get ConcurrentTransition naming the state it found."""
    snap = _snapshot(store)
    other = Store.from_url(store_url)

    def interleave(conn, snapshot_id):
        store._after_read = None
        if conn.dialect.name == "sqlite":
            # SQLite serialises writers (BEGIN IMMEDIATE), so no other connection can write now;
            # emulate the other worker's committed move on our own connection.
            conn.execute(sa.text("UPDATE snapshots SET state = 'STARTED', version = version + 1 WHERE id = :id"),
                         {"id": snapshot_id})
        else:
            other.transition(snapshot_id, S.STARTED, actor="other worker")

    store._after_read = interleave
    try:
        with pytest.raises(ConcurrentTransition) as info:
            store.transition(snap.id, S.START_FAILED, actor="slow worker")
    finally:
        other.close()
    assert info.value.found_state is S.STARTED
    assert "from START_PENDING to START_FAILED: it is now STARTED" in str(info.value)
    assert "slow worker" not in {t.actor for t in store.history(snap.id)}


def test_field_updates_do_not_block_a_transition(store):
    snap = _snapshot(store)
    calls = []

    def bump(conn, snapshot_id):
        if not calls:
            calls.append(1)
            conn.execute(sa.text("UPDATE snapshots SET version = version + 1, row_count = 7 WHERE id = :id"),
                         {"id": snapshot_id})

    store._after_read = bump
    moved = store.transition(snap.id, S.STARTED, actor="worker")
    store._after_read = None
    assert (moved.state, moved.row_count) == (S.STARTED, 7)
    updated = store.update_snapshot(snap.id, row_count=9, artifacts={"log": "s3://b/log.csv"})
    assert (updated.state, updated.row_count, updated.artifacts) == (S.STARTED, 9, {"log": "s3://b/log.csv"})


def test_supersede_makes_the_replacement_the_live_snapshot(store):
    snap = _snapshot(store, options={"skipQaTests": False})
    for state in (S.STARTED, S.PENDING_IMPORT, S.PENDING_QA, S.QA):
        store.transition(snap.id, state, actor="worker", crawl_run_id="run-1")
    rerun = store.supersede(snap.id, actor="alice", reason="re-run: extractor fixed")
    assert (rerun.attempt, rerun.supersedes, rerun.state) == (2, snap.id, S.START_PENDING)
    assert (rerun.extractor_id, rerun.input_count, rerun.crawl_run_id) == ("ext-1", 10, None)
    assert rerun.options == {"skipQaTests": False}
    assert store.get_snapshot(snap.id).state is S.SUPERCEDED
    assert _snapshot(store).id == rerun.id  # the task's next try finds the replacement
    assert store.history(snap.id)[-1].reason == "re-run: extractor fixed"
    # Re-import keeps the crawl run; a superseded snapshot cannot be superseded again.
    store.transition(rerun.id, S.STARTED, actor="worker", crawl_run_id="run-2")
    store.transition(rerun.id, S.RUN_FAILED, actor="worker")
    reimport = store.supersede(rerun.id, actor="bob", reason="re-import", new_state=S.PENDING_IMPORT)
    assert (reimport.attempt, reimport.crawl_run_id, reimport.state) == (3, "run-2", S.PENDING_IMPORT)
    with pytest.raises(IllegalTransition, match="from SUPERCEDED to SUPERCEDED"):
        store.supersede(snap.id, actor="alice", reason="again")
    live = store.snapshots(live_only=True)
    assert [s.id for s in live] == [reimport.id]
    counts = store.snapshot_state_counts(project="shop")
    assert counts[S.SUPERCEDED] == 2 and counts[S.PENDING_IMPORT] == 1 and counts[S.QA] == 0


# -- statistics, pushes, alarms, deliveries ----------------------------------------------------


def test_stats_pushes_alarms_and_delivery_close(store_url, clock):
    with Store.from_url(store_url, clock=clock) as store:
        store.migrate()
        older = _snapshot(store, chunk=0)
        for state in (S.STARTED, S.PENDING_IMPORT, S.PASSED_QA):
            store.transition(older.id, state, actor="w")
        store.record_stats(older.id, {"rows": 100, "error_pct": 0.5, "blocked_pct": None})
        clock.advance(10)
        newer = _snapshot(store, chunk=1)
        store.record_stats(newer.id, {"rows": 90})
        store.record_stats(newer.id, {"rows": 95})  # replaces
        assert store.snapshot_stats(older.id) == {"blocked_pct": None, "error_pct": 0.5, "rows": 100.0}
        assert store.snapshot_stats(newer.id) == {"rows": 95.0}
        history = store.source_stats("products", "shop-uk", "rows", exclude_snapshot=newer.id)
        assert [(h.snapshot_id, h.value) for h in history] == [(older.id, 100.0)]  # only "good data"

        failed = store.record_push(older.id, "s3-prod", PushStatus.FAILED, actor="push", error="AccessDenied")
        pushed = store.record_push(older.id, "s3-prod", "PUSHED", actor="push", uri="s3://b/k.json",
                                   byte_count=2048, row_count=100)
        dry = store.record_push(older.id, "sftp", PushStatus.DRY_RUN, actor="push")
        assert (failed.attempt, pushed.attempt, dry.attempt) == (1, 2, 1)
        assert [p.status for p in store.pushes(snapshot_id=older.id)] == [
            PushStatus.FAILED, PushStatus.PUSHED, PushStatus.DRY_RUN]
        assert store.pushes(status="FAILED") == [failed]
        store.transition(older.id, S.PUSHED, actor="push")

        first = store.set_alarm_state("ops", "OK", {"checked": 3})
        clock.advance(60)
        same = store.set_alarm_state("ops", "OK")
        clock.advance(60)
        alarm = store.set_alarm_state("ops", "ALARM", {"snapshots.status.FAILED_QA": 1})
        assert (first.previous, first.changed, same.changed, alarm.previous, alarm.changed) == (
            None, True, False, "OK", True)
        assert alarm.current.since == clock.now and same.current.since == first.current.since
        assert alarm.current.last_evaluated == clock.now and alarm.current.details == {"snapshots.status.FAILED_QA": 1}
        assert store.alarm_state("ops") == alarm.current and store.alarm_states() == [alarm.current]
        assert store.alarm_state("nobody") is None

        delivery = store.get_delivery(older.delivery_id)
        closed = store.close_delivery(delivery.id)
        assert closed.state is DeliveryState.CLOSED and closed.closed_at == clock.now
        assert store.close_delivery(delivery.id) == closed
        assert store.deliveries(flow="daily", state="CLOSED") == [closed]
        assert store.find_delivery("shop", "daily", delivery.run_id) == closed


def test_racing_alarm_evaluators_see_one_change(store_url, store):
    store.set_alarm_state("ops", "OK")
    stores = [Store.from_url(store_url) for _ in range(4)]
    try:
        outcomes = _race(stores, lambda s: s.set_alarm_state("ops", "ALARM"))
    finally:
        for other in stores:
            other.close()
    assert sum(o.changed for o in outcomes) == 1, outcomes


# -- extractor leases --------------------------------------------------------------------------


def test_leases_are_exclusive_expiring_reentrant_and_released(store_url, clock):
    with Store.from_url(store_url, clock=clock) as store:
        store.migrate()
        assert store.acquire_lease("ext-1", "chunk-0", ttl=60)
        assert not store.acquire_lease("ext-1", "chunk-1", ttl=60)  # exclusive
        assert store.acquire_lease("ext-2", "chunk-1", ttl=60)  # per extractor
        assert store.acquire_lease("ext-1", "chunk-0", ttl=60)  # re-entrant: extends
        lease = store.lease_holder("ext-1")
        assert (lease.holder, lease.expires_at) == ("chunk-0", clock.now + timedelta(seconds=60))
        clock.advance(30)
        assert store.renew_lease("ext-1", "chunk-0", timedelta(seconds=60))
        clock.advance(59)
        assert not store.acquire_lease("ext-1", "chunk-1", ttl=60)
        clock.advance(2)  # expired
        assert store.lease_holder("ext-1") is None
        assert store.acquire_lease("ext-1", "chunk-1", ttl=60)  # taken over
        assert not store.renew_lease("ext-1", "chunk-0", 60)  # the old holder lost it
        assert not store.release_lease("ext-1", "chunk-0")
        assert store.release_lease("ext-1", "chunk-1")
        assert store.lease_holder("ext-1") is None
        assert store.acquire_lease("ext-1", "chunk-0", ttl=60)
        with pytest.raises(ValueError, match="positive"):
            store.acquire_lease("ext-3", "x", ttl=0)


def test_lease_context_manager(store):
    with store.lease("ext-1", "chunk-0", ttl=60) as held:
        assert store.lease_holder("ext-1").holder == "chunk-0" and not held.reentered
        with store.lease("ext-1", "chunk-0", ttl=60) as inner:  # re-entrant
            assert inner.reentered
        assert store.lease_holder("ext-1").holder == "chunk-0"  # the inner exit did not release
        with pytest.raises(LeaseUnavailable, match="held by chunk-0 until"):
            with store.lease("ext-1", "chunk-1", ttl=60, wait=0.2, poll=0.05):
                pass
    assert store.lease_holder("ext-1") is None

    # A waiter gets the lease once the holder releases it.
    store.acquire_lease("ext-1", "chunk-0", ttl=60)
    timer = threading.Timer(0.3, store.release_lease, args=("ext-1", "chunk-0"))
    timer.start()
    with store.lease("ext-1", "chunk-1", ttl=60, wait=10, poll=0.05, heartbeat=0.05) as held:
        assert store.lease_holder("ext-1").holder == "chunk-1"
        before = store.lease_holder("ext-1").expires_at
        threading.Event().wait(0.3)  # heartbeats renew it
        assert store.lease_holder("ext-1").expires_at > before and not held.lost
    timer.join()
    assert store.lease_holder("ext-1") is None


def test_racing_lease_acquirers_exactly_one_wins(store_url, store):
    stores = [Store.from_url(store_url) for _ in range(5)]
    try:
        for extractor in ("ext-new", "ext-expired"):
            if extractor == "ext-expired":
                store.acquire_lease(extractor, "old", ttl=0.001)
                threading.Event().wait(0.01)
            outcomes = _race(stores, lambda s, ext=extractor: s.acquire_lease(ext, f"h{id(s)}", ttl=60))
            assert outcomes.count(True) == 1 and outcomes.count(False) == len(stores) - 1, outcomes
    finally:
        for other in stores:
            other.close()


def test_naive_datetimes_are_refused(store):
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.get_or_create_delivery("p", "f", "r", dag_id="d", start=datetime(2026, 1, 1))
