"""``ImportioCrawlRunTrigger`` against the Import.io emulator, run in a real asyncio loop; the shared
event reader; ``poll_crawl_run`` (the synchronous wait) over the same client."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_importio.clients.errors import UnauthorizedError
from airflow_provider_importio.clients.importio import ImportioClient
from airflow_provider_importio.hooks.importio import ImportioHook
from airflow_provider_importio.triggers.crawl_run import (
    ImportioCrawlRunEventException,
    ImportioCrawlRunFailedException,
    ImportioCrawlRunLateException,
    ImportioCrawlRunTrigger,
    outcome_from_event,
    result_from_event,
)
from airflow_provider_importio.workbench.crawl_status import CrawlStatus, poll_crawl_run
from tests.integration.conftest import set_importio_connection

CONN_ID = "importio_trigger_test"
URLS = ["https://shop.example/p/1", "https://shop.example/p/2?rows=3", "https://shop.example/blocked"]


@pytest.fixture(autouse=True)
def conn(importio_emulator, monkeypatch) -> None:
    set_importio_connection(monkeypatch, CONN_ID, importio_emulator.url, importio_emulator.api_key)


@pytest.fixture
def client(importio_emulator) -> ImportioClient:
    with ImportioClient(importio_emulator.api_key, importio_emulator.url) as api:
        yield api


def start_run(importio_emulator, client: ImportioClient, urls: list[str] = URLS) -> tuple[str, str]:
    extractor = importio_emulator.add_extractor(name="Products", inputs=urls)
    return extractor["guid"], client.start_extractor(extractor["guid"])


def trigger(crawl_run_id: str, **kwargs: Any) -> ImportioCrawlRunTrigger:
    return ImportioCrawlRunTrigger(crawl_run_id=crawl_run_id, importio_conn_id=kwargs.pop("conn_id", CONN_ID),
                                   poll_interval=kwargs.pop("poll_interval", 0.02), **kwargs)


async def collect(trig: ImportioCrawlRunTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trig.run()]


def events_of(trig: ImportioCrawlRunTrigger, timeout: float = 15) -> list[dict[str, Any]]:
    """Every event the trigger yields before its run() returns (it must yield exactly one)."""
    return asyncio.run(asyncio.wait_for(collect(trig), timeout))


def test_a_finished_run_yields_one_success_event(importio_emulator, client):
    extractor_id, run_id = start_run(importio_emulator, client)
    events = events_of(trigger(run_id))
    assert len(events) == 1
    event = events[0]
    expected = importio_emulator.crawl_run(run_id)
    assert event["status"] == "success" and event["state"] == "FINISHED"
    assert (event["crawl_run_id"], event["extractor_id"]) == (run_id, extractor_id)
    assert (event["row_count"], event["total_url_count"], event["success_url_count"], event["failed_url_count"]) == (
        expected["rowCount"], 3, 2, 1)
    assert run_id in event["message"] and json.loads(json.dumps(event)) == event
    assert result_from_event(event) == {
        "crawl_run_id": run_id, "extractor_id": extractor_id, "state": "FINISHED", "row_count": expected["rowCount"],
        "total_url_count": 3, "success_url_count": 2, "failed_url_count": 1,
    }


def test_a_failed_run_yields_failed(importio_emulator, client):
    _, run_id = start_run(importio_emulator, client, ["https://shop.example/crawl-fail/1"])
    [event] = events_of(trigger(run_id))
    assert (event["status"], event["state"]) == ("failed", "FAILED")
    with pytest.raises(ImportioCrawlRunFailedException, match=f"{run_id} ended FAILED") as raised:
        result_from_event(event)
    assert isinstance(raised.value, AirflowFailException)  # a failed run is not retried


def test_a_stopped_run_yields_failed(importio_emulator, client):
    importio_emulator.crawl_seconds = 30
    extractor_id, run_id = start_run(importio_emulator, client)
    assert client.stop_extractor(extractor_id) == run_id
    [event] = events_of(trigger(run_id))
    assert (event["status"], event["state"]) == ("failed", "CANCELLED")
    assert "ended CANCELLED" in event["message"]


def test_late_at_the_deadline_not_a_poll_interval_after_it(importio_emulator, client):
    importio_emulator.crawl_seconds = 30
    _, run_id = start_run(importio_emulator, client)
    deadline = datetime.now(timezone.utc) + timedelta(seconds=0.4)
    started = time.monotonic()
    [event] = events_of(trigger(run_id, deadline=deadline.isoformat(), poll_interval=60))
    elapsed = time.monotonic() - started
    assert event["status"] == "late" and event["state"] in ("PENDING", "STARTED")
    assert 0.35 < elapsed < 5, elapsed
    assert "is late" in event["message"] and deadline.isoformat() in event["message"]
    with pytest.raises(ImportioCrawlRunLateException) as raised:
        result_from_event(event)
    assert not isinstance(raised.value, AirflowFailException)  # a retry may find the run ended


def test_a_wrong_key_yields_one_error_event_without_a_retry_storm(importio_emulator, client, monkeypatch):
    _, run_id = start_run(importio_emulator, client)
    set_importio_connection(monkeypatch, "importio_bad_key", importio_emulator.url, "wrong-key-0123456789")
    before = importio_emulator.request_count("GET", r"^/crawlruns/")
    [event] = events_of(trigger(run_id, conn_id="importio_bad_key", poll_interval=0.01))
    assert event["status"] == "error" and "401" in event["message"]
    assert "wrong-key-0123456789" not in json.dumps(event)
    assert importio_emulator.request_count("GET", r"^/crawlruns/") == before + 1
    with pytest.raises(ImportioCrawlRunEventException, match="401"):
        result_from_event(event)


def test_an_unknown_run_or_connection_is_an_error_event(importio_emulator):
    [event] = events_of(trigger("00000000-0000-0000-0000-000000000000"))
    assert event["status"] == "error" and "404" in event["message"]
    [event] = events_of(trigger("some-run", conn_id="no_such_connection"))
    assert event["status"] == "error" and "no_such_connection" in event["message"]


def test_transient_errors_are_polled_through(importio_emulator, client):
    extractor_id, run_id = start_run(importio_emulator, client)
    # The connection retries 3 times: 4 answers of 503 exhaust one poll's retries; the next poll reads the run.
    importio_emulator.faults.script("503", "503", "503", "503", "drop", path=r"^/crawlruns/", method="GET")
    [event] = events_of(trigger(run_id))
    assert event["status"] == "success" and importio_emulator.faults.pending == []
    assert importio_emulator.request_count("GET", r"^/crawlruns/") >= 6


def test_serialize_round_trip():
    trig = ImportioCrawlRunTrigger("run-1", "importio_x", deadline=datetime(2026, 5, 1, 6, 30, tzinfo=timezone.utc),
                                   poll_interval=45)
    classpath, kwargs = trig.serialize()
    assert classpath == "airflow_provider_importio.triggers.crawl_run.ImportioCrawlRunTrigger"
    assert kwargs == {"crawl_run_id": "run-1", "importio_conn_id": "importio_x",
                      "deadline": "2026-05-01T06:30:00+00:00", "poll_interval": 45.0}
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    with pytest.raises(ValueError, match="ISO 8601"):
        ImportioCrawlRunTrigger("run-1", deadline="next tuesday")


def test_the_event_loop_keeps_running_while_an_answer_is_slow(importio_emulator, client):
    extractor_id, run_id = start_run(importio_emulator, client)
    time.sleep(0.2)  # the run is FINISHED: the trigger's one poll is the slow one
    importio_emulator.faults.delay_seconds = 0.6
    importio_emulator.faults.script("delay", path=r"^/crawlruns/", method="GET")

    async def main() -> tuple[list[dict[str, Any]], list[float], float]:
        ticks: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        events = await collect(trigger(run_id))
        elapsed = time.monotonic() - started
        done.set()
        await ticking
        return events, ticks, elapsed

    events, ticks, elapsed = asyncio.run(main())
    assert [e["status"] for e in events] == ["success"]
    assert importio_emulator.faults.pending == [] and elapsed >= 0.6  # the delayed answer was in flight
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
    assert len(ticks) >= 30 and max(gaps) < 0.2, max(gaps)  # blocked, one gap would be >= 0.6 s


@pytest.mark.parametrize("event", [
    None, {}, "success", {"status": "running", "crawl_run_id": "r", "message": "m"},
    {"status": "SUCCESS", "crawl_run_id": "r", "message": "m"}, {"status": "done", "crawl_run_id": "r", "message": "m"},
    {"status": "success", "message": "no run id"},
])
def test_the_shared_handler_rejects_unknown_events(event):
    with pytest.raises(ImportioCrawlRunEventException, match="Unknown trigger event"):
        result_from_event(event)


def test_the_shared_handler_reads_each_known_status():
    base = {"crawl_run_id": "r1", "message": "Import.io crawl run r1 ...", "state": "FINISHED", "row_count": 3}
    assert result_from_event({**base, "status": "success"})["row_count"] == 3
    assert outcome_from_event({**base, "status": "late"}).status is CrawlStatus.LATE
    with pytest.raises(ImportioCrawlRunFailedException) as failed:
        result_from_event({**base, "status": "failed", "state": "FAILED"})
    assert (failed.value.status, failed.value.outcome.state, str(failed.value)) == ("failed", "FAILED", base["message"])
    with pytest.raises(ImportioCrawlRunLateException) as late:
        result_from_event({**base, "status": "late", "state": "STARTED"})
    assert (late.value.status, late.value.outcome.crawl_run_id) == ("late", "r1")
    with pytest.raises(ImportioCrawlRunEventException, match="boom") as error:
        result_from_event({"status": "error", "message": "boom"})
    assert error.value.status == "error" and error.value.outcome is None


def test_poll_crawl_run_waits_with_the_same_decision(importio_emulator, client, monkeypatch):
    hook = ImportioHook(importio_conn_id=CONN_ID)
    _, run_id = start_run(importio_emulator, client)
    importio_emulator.faults.script("503", "503", "503", "503", path=r"^/crawlruns/", method="GET")
    outcome = poll_crawl_run(hook.get_crawl_run, run_id, deadline=None, interval=0.02)
    assert outcome.status is CrawlStatus.SUCCESS and outcome.state == "FINISHED"

    set_importio_connection(monkeypatch, "importio_bad_key", importio_emulator.url, "wrong-key-0123456789")
    before = importio_emulator.request_count("GET", r"^/crawlruns/")
    with pytest.raises(UnauthorizedError):
        poll_crawl_run(ImportioHook("importio_bad_key").get_crawl_run, run_id, deadline=None, interval=0.02)
    assert importio_emulator.request_count("GET", r"^/crawlruns/") == before + 1
