from __future__ import annotations

import pickle
from datetime import datetime, timezone

import pytest

from airflow_provider_importio.clients.errors import UnauthorizedError
from airflow_provider_importio.clients.importio import input_record
from airflow_provider_importio.clients.importio_records import CrawlRun, CrawlRunState, parse_timestamp


def test_timestamps_in_epoch_ms_and_iso_forms():
    expected = datetime(2024, 6, 3, 16, 0, tzinfo=timezone.utc)
    assert parse_timestamp(1717430400000) == expected
    assert parse_timestamp("1717430400000") == expected
    assert parse_timestamp("2024-06-03T16:00:00Z") == expected
    assert parse_timestamp("2024-06-03T16:00:00") == expected
    assert parse_timestamp(None) is None


def _run(**overrides):
    data = {"guid": "g", "extractorId": "e", "state": "FINISHED", "totalUrlCount": 3,
            "successUrlCount": 2, "failedUrlCount": 1, "rowCount": 7, "json": "att-json",
            "files": {"not": "an id"}, "_meta": {"creationTimestamp": 1717430400000}}
    data.update(overrides)
    return CrawlRun.from_api(data)


def test_crawl_run_complete_needs_finished_and_all_urls_accounted_for():
    assert _run().is_complete
    assert not _run(failedUrlCount=0).is_complete
    assert not _run(state="STARTED").is_complete


def test_crawl_run_fields():
    run = _run()
    assert run.state is CrawlRunState.FINISHED and run.state.is_terminal
    assert run.attachments == {"json": "att-json"}
    assert run.created_at == datetime(2024, 6, 3, 16, 0, tzinfo=timezone.utc)
    assert not CrawlRunState.STARTED.is_terminal


def test_unknown_state_is_an_error():
    with pytest.raises(ValueError):
        _run(state="EXPLODED")


def test_input_record_forms():
    assert input_record("https://a") == {"_url": "https://a"}
    assert input_record({"_url": "https://a", "q": 1}) == {"_url": "https://a", "q": 1}
    with pytest.raises(ValueError, match="_url"):
        input_record({"url": "https://a"})


def test_errors_survive_pickling_with_their_fields():
    err = UnauthorizedError("Import.io GET /x answered 401", service="Import.io", status=401, body="{}")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is UnauthorizedError and copy.status == 401 and str(copy) == str(err)
