"""The collection-run operator against the Import.io emulator, moto's S3 and a SQLite store."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from airflow_provider_importio.clients.importio_results import parse_result_line
from airflow_provider_importio.operators.collection_run import ImportioCollectionRunOperator
from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.integration.conftest import set_importio_connection

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def env(importio_emulator, moto_server, monkeypatch, tmp_path):
    set_importio_connection(monkeypatch, "importio_default", importio_emulator.url, importio_emulator.api_key)
    monkeypatch.setenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", json.dumps(
        {"conn_type": "importio_store", "extra": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}))
    s3 = moto_server.client()
    s3.create_bucket(Bucket="work")
    return importio_emulator, s3


def put_chunk(s3, index: int, urls: list[str]) -> dict:
    key = f"staging/chunk-{index:04d}.ndjson"
    s3.put_object(Bucket="work", Key=key, Body="".join(json.dumps({"_url": u}) + "\n" for u in urls).encode())
    return {"index": index, "uri": f"s3://work/{key}", "count": len(urls), "first_input": 0,
            "start": NOW.isoformat(), "collect_by": (NOW + dt.timedelta(minutes=5)).isoformat()}


def operator(chunk, extractor_id, **kwargs) -> ImportioCollectionRunOperator:
    return ImportioCollectionRunOperator(
        task_id="collect", chunk=chunk, source={"slug": "shop-a", "extractor_id": extractor_id}, project="shop",
        collection="products", flow="staging", results_uri="s3://work/snapshots", domain="shop.example",
        locale="en_GB", poll_interval=0.05, lease_poll_interval=0.05, deferrable=False, **kwargs)


def context(run_id: str = "manual__1") -> dict:
    return {"run_id": run_id, "logical_date": NOW}


def result_urls(s3, uri: str) -> list[str]:
    key = uri.removeprefix("s3://work/")
    body = s3.get_object(Bucket="work", Key=key)["Body"].read().decode()
    return [parse_result_line(json.loads(line)).input_url for line in body.splitlines() if line.strip()]


def test_a_chunk_becomes_a_pending_import_snapshot_and_a_rerun_starts_nothing(env):
    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    urls = [f"https://shop.example/p/{i}" for i in range(7)]
    chunk = put_chunk(s3, 3, urls)
    result = operator(chunk, extractor).execute(context())
    assert result["state"] == "PENDING_IMPORT" and result["chunk"] == 3 and result["inputs"] == 7
    assert result["rows"] == sum(len(emulator.expected_rows(u)) for u in urls)
    assert result_urls(s3, result["results_uri"]) == urls
    assert result["results_uri"].startswith("s3://work/snapshots/shop-a/chunk-0003-")

    again = operator(chunk, extractor).execute(context())
    assert again == result
    assert emulator.request_count("POST", r"/start$") == 1 and len(emulator.crawl_runs(extractor)) == 1


def test_two_chunks_of_one_extractor_never_overlap(env):
    emulator, s3 = env
    emulator.crawl_seconds = 0.4
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    chunks = [put_chunk(s3, i, [f"https://shop.example/c{i}/{n}" for n in range(5)]) for i in range(3)]
    results: dict[int, dict] = {}
    errors: list[BaseException] = []

    def run(chunk):
        try:
            results[chunk["index"]] = operator(chunk, extractor).execute(context())
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    for chunk in chunks:  # each run crawled exactly its own chunk's inputs
        expected = [f"https://shop.example/c{chunk['index']}/{n}" for n in range(5)]
        assert result_urls(s3, results[chunk["index"]]["results_uri"]) == expected
    runs = sorted(emulator.crawl_runs(extractor), key=lambda r: r["startedAt"])
    assert len(runs) == 3
    for before, after in zip(runs, runs[1:]):
        assert before["stoppedAt"] <= after["startedAt"], (before, after)


def test_a_failed_start_is_recorded_and_retried(env):
    emulator, s3 = env
    from airflow_provider_importio.clients.errors import NotFoundError
    from airflow_provider_importio.hooks.store import ImportioStoreHook

    chunk = put_chunk(s3, 0, ["https://shop.example/p/1"])
    with pytest.raises(NotFoundError):
        operator(chunk, "00000000-0000-4000-8000-000000000000").execute(context())
    store = ImportioStoreHook().get_store()
    (snapshot,) = store.snapshots()
    assert snapshot.state is SnapshotState.START_FAILED and "404" in (snapshot.state_reason or "")
    assert store.lease_holder("00000000-0000-4000-8000-000000000000") is None

    # Once the extractor exists, a retry of the task retries the start of the same snapshot.
    emulator.add_extractor(name="Late arrival", guid="00000000-0000-4000-8000-000000000000")
    result = operator(chunk, "00000000-0000-4000-8000-000000000000").execute(context())
    assert result["snapshot_id"] == snapshot.id and result["state"] == "PENDING_IMPORT"
    assert [h.to_state.value for h in store.history(snapshot.id)] == [
        "START_PENDING", "START_FAILED", "START_PENDING", "STARTED", "PENDING_IMPORT"]


def test_without_an_input_file_the_extractor_runs_its_default_inputs(env):
    emulator, s3 = env
    extractor = emulator.add_extractor(name="Defaults", inputs=["https://shop.example/d/1", "https://shop.example/d/2"])
    chunk = {"index": 0, "uri": None, "count": None, "first_input": 0, "start": NOW.isoformat(),
             "collect_by": (NOW + dt.timedelta(minutes=5)).isoformat()}
    result = operator(chunk, extractor["guid"]).execute(context())
    assert result_urls(s3, result["results_uri"]) == ["https://shop.example/d/1", "https://shop.example/d/2"]
    assert emulator.request_count("PUT", r"/inputs$") == 0 and result["inputs"] is None


def test_a_late_run_is_stopped_and_marked_run_failed(env):
    emulator, s3 = env
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_importio.hooks.store import ImportioStoreHook

    emulator.crawl_seconds = 30
    extractor = emulator.add_extractor(name="Slow")["guid"]
    chunk = put_chunk(s3, 0, ["https://shop.example/p/1"])
    now = dt.datetime.now(dt.timezone.utc)
    # a 2 s window: even when the machine is slow to start the task past collect_by (a late start gets
    # a fresh window), the 30 s crawl is late
    chunk["start"], chunk["collect_by"] = now.isoformat(), (now + dt.timedelta(seconds=2)).isoformat()
    with pytest.raises(AirflowFailException, match="late"):
        operator(chunk, extractor).execute(context())
    (run,) = emulator.crawl_runs(extractor)
    assert run["state"] == "CANCELLED"
    store = ImportioStoreHook().get_store()
    (snapshot,) = store.snapshots()
    assert snapshot.state is SnapshotState.RUN_FAILED
    assert [h.to_state for h in store.history(snapshot.id)][-1] is SnapshotState.RUN_FAILED
    assert store.lease_holder(extractor) is None


def test_deferrable_path_defers_to_the_crawl_trigger_and_completes(env):
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    chunk = put_chunk(s3, 1, ["https://shop.example/p/9"])
    op = operator(chunk, extractor)
    op.deferrable = True
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    result = op.execute_complete(context(), event)
    assert result["state"] == "PENDING_IMPORT" and result["rows"] == len(emulator.expected_rows("https://shop.example/p/9"))
    with pytest.raises(Exception, match="Unknown trigger event"):
        op.execute_complete(context("manual__2"), {"status": "weird"})


class _XComTi:
    """What the operator uses of a task instance: ``xcom_push``, recorded."""

    def __init__(self) -> None:
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value


def test_the_links_xcoms_exist_before_a_chunk_defers_until_its_start(env):
    from airflow.sdk.exceptions import TaskDeferred

    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    chunk = put_chunk(s3, 2, ["https://shop.example/p/1"])
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    chunk["start"], chunk["collect_by"] = later.isoformat(), (later + dt.timedelta(hours=1)).isoformat()
    op = operator(chunk, extractor)
    op.deferrable = True
    ti = _XComTi()
    with pytest.raises(TaskDeferred) as deferred:  # Airflow reads the extra links now: their XComs must exist
        op.execute({**context(), "ti": ti})
    assert deferred.value.method_name == "resume"
    assert ti.xcom == {"extractor_id": extractor, "crawl_run_id": ""}
    assert op.operator_extra_links and emulator.crawl_runs(extractor) == []


def test_the_domain_caps_runs_of_different_extractors(env):
    emulator, s3 = env
    emulator.crawl_seconds = 0.4
    extractors = [emulator.add_extractor(name=f"Shop {i}")["guid"] for i in range(2)]
    chunk = put_chunk(s3, 0, ["https://shop.example/p/1"])
    errors: list[BaseException] = []

    def run(extractor, slug):
        try:
            ImportioCollectionRunOperator(
                task_id="collect", chunk=chunk, source={"slug": slug, "extractor_id": extractor}, project="shop",
                collection="products", flow="staging", results_uri="s3://work/snapshots", domain="shop.example",
                domain_concurrency=1, poll_interval=0.05, lease_poll_interval=0.05, deferrable=False,
            ).execute(context())
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e, f"s{i}")) for i, e in enumerate(extractors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    first, second = sorted((emulator.crawl_runs(e)[0] for e in extractors), key=lambda r: r["startedAt"])
    assert first["stoppedAt"] <= second["startedAt"]  # one run at a time on shop.example


def test_chunks_are_read_from_their_byte_ranges_of_the_staged_object(env):
    """The pickup stages one object; each collection run puts exactly its own chunk's inputs."""
    from airflow_provider_importio.operators.input_pickup import ImportioInputPickupOperator

    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    urls = [f"https://shop.example/r/{i}" for i in range(9)]
    s3.put_object(Bucket="work", Key="inputs/urls.txt", Body="\n".join(urls).encode())
    described = ImportioInputPickupOperator(task_id="pickup", input_uri="s3://work/inputs/urls.txt", chunks=2,
                                            staging_uri="s3://work/staging/run-1", data_hours=1).execute(context())
    assert {d["uri"] for d in described} == {"s3://work/staging/run-1/chunks.ndjson.gz"}
    results = [operator(chunk, extractor).execute(context()) for chunk in described]
    assert [result_urls(s3, r["results_uri"]) for r in results] == [urls[:4], urls[4:]]
    assert [r["inputs"] for r in results] == [4, 5]

    wrong = dict(described[0], count=5)  # a descriptor that no longer matches the object
    with pytest.raises(RuntimeError, match=r"^s3://work/staging/run-1/chunks\.ndjson\.gz bytes \[0, \d+\) holds 4 "
                                           r"inputs, but the pickup staged 5 there: was the staged object replaced\?"):
        operator(wrong, extractor).execute(context("manual__2"))
    assert len(emulator.crawl_runs(extractor)) == 2  # no crawl started for it
