"""``ImportioLeaseTrigger``: a chunk waiting for a busy extractor waits in the triggerer, on a real
SQLite store, and fires for the snapshot next in line (or after ``patience`` when that one idles)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time

import pytest

from airflow_provider_importio.hooks.store import ImportioStoreHook
from airflow_provider_importio.triggers.lease import FREE, ImportioLeaseTrigger
from airflow_provider_importio.workbench.snapshot_states import SnapshotState

EXTRACTOR = "0d5e6c3a-1b2c-4d5e-8f90-123456789abc"


@pytest.fixture(autouse=True)
def fresh_shared_stores():
    """Each test has its own database behind the same connection id."""
    import airflow_provider_importio.triggers.lease as lease

    yield
    while lease._STORES:
        lease._STORES.popitem()[1].close()


@pytest.fixture
def store(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", json.dumps(
        {"conn_type": "importio_store", "extra": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}))
    store = ImportioStoreHook().get_store()
    store.migrate()
    yield store
    store.close()


def waiting(store, chunks: int) -> list[str]:
    delivery = store.get_or_create_delivery("shop", "staging", "manual__1", dag_id="shop__staging")
    return [store.get_or_create_snapshot(delivery.id, "products", "shop-a", chunk, actor="test",
                                         extractor_id=EXTRACTOR).id for chunk in range(chunks)]


def first_event(trigger: ImportioLeaseTrigger, timeout: float = 10) -> tuple[dict, float]:
    async def run():
        async for event in trigger.run():
            return event.payload

    started = time.monotonic()
    payload = asyncio.run(asyncio.wait_for(run(), timeout))
    return payload, time.monotonic() - started


def trigger(snapshot_id: str, **kwargs) -> ImportioLeaseTrigger:
    return ImportioLeaseTrigger("importio_store_default", EXTRACTOR, snapshot_id,
                                poll_interval=kwargs.pop("poll_interval", 0.05), **kwargs)


def test_the_next_in_line_fires_once_the_holder_releases(store):
    first, second = waiting(store, 2)
    assert store.acquire_lease(EXTRACTOR, "holder", 60)
    threading.Timer(0.5, lambda: store.release_lease(EXTRACTOR, "holder")).start()
    payload, waited = first_event(trigger(first, patience=30))
    assert payload == {"status": FREE, "extractor_id": EXTRACTOR, "snapshot_id": first, "reason": "next in line"}
    assert 0.4 < waited < 5


def test_a_later_chunk_waits_for_the_one_ahead_then_its_patience_runs_out(store):
    first, second = waiting(store, 2)  # the lease is free, but chunk 0 is ahead and not taking it
    payload, waited = first_event(trigger(second, patience=0.6))
    assert payload["reason"].startswith("free for") and waited >= 0.6
    # once chunk 0 has started, chunk 1 is next in line at once
    store.transition(first, SnapshotState.STARTED, actor="test", reason="started", crawl_run_id="run-1")
    payload, waited = first_event(trigger(second, patience=30))
    assert payload["reason"] == "next in line" and waited < 2


def test_the_trigger_serializes_to_what_it_was_built_from(store):
    (snapshot,) = waiting(store, 1)
    path, kwargs = trigger(snapshot, patience=7).serialize()
    assert path == "airflow_provider_importio.triggers.lease.ImportioLeaseTrigger"
    assert ImportioLeaseTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["patience"] == 7.0 and kwargs["snapshot_id"] == snapshot


def test_a_deferrable_chunk_on_a_busy_extractor_defers_to_the_lease_trigger(store, importio_emulator, moto_server,
                                                                            monkeypatch):
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_importio.operators.collection_run import ImportioCollectionRunOperator
    from tests.integration.conftest import set_importio_connection

    set_importio_connection(monkeypatch, "importio_default", importio_emulator.url, importio_emulator.api_key)
    extractor = importio_emulator.add_extractor(name="Shop A", guid=EXTRACTOR)["guid"]
    assert store.acquire_lease(extractor, "another-chunk", 60)
    now = dt.datetime.now(dt.timezone.utc)
    op = ImportioCollectionRunOperator(
        task_id="collect", chunk={"index": 4, "uri": None, "start": now.isoformat(),
                                  "collect_by": (now + dt.timedelta(minutes=5)).isoformat()},
        source={"slug": "shop-a", "extractor_id": extractor}, project="shop", collection="products",
        flow="staging", results_uri="s3://work/snapshots", lease_poll_interval=2, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"run_id": "manual__1", "logical_date": now})
    assert deferred.value.method_name == "resume"
    lease_trigger = deferred.value.trigger
    assert isinstance(lease_trigger, ImportioLeaseTrigger) and lease_trigger.extractor_id == extractor
    (snapshot,) = store.snapshots()
    assert lease_trigger.snapshot_id == snapshot.id and snapshot.state is SnapshotState.START_PENDING
    assert importio_emulator.crawl_runs(extractor) == []  # nothing started while the extractor is busy


def test_the_lease_triggers_of_a_triggerer_share_one_store(store):
    import airflow_provider_importio.triggers.lease as lease

    first, second = waiting(store, 2)
    triggers = [trigger(first, patience=0.1), trigger(second, patience=0.1)]
    for each in triggers:
        first_event(each)
    assert list(lease._STORES) == ["importio_store_default"]  # one pool for every waiting chunk
