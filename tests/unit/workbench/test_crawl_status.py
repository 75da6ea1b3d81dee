"""``crawl_run_outcome``: every branch, with CrawlRun records built from API dicts; the poller's
deadline-aware waits and error handling with a fake clock."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_importio.clients.errors import (
    ApiError,
    BadRequestError,
    ForbiddenError,
    InvalidResponseError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from airflow_provider_importio.clients.importio_records import CrawlRun
from airflow_provider_importio.workbench.crawl_status import (
    CrawlOutcome,
    CrawlRunPoller,
    CrawlStatus,
    crawl_run_outcome,
    deadline_iso,
    is_transient_error,
    parse_deadline,
    poll_crawl_run,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RUN_ID = "3f1c2a77-0000-4000-8000-000000000001"


def run(state: str, total: int = 4, success: int = 0, failed: int = 0, rows: int = 0) -> CrawlRun:
    return CrawlRun.from_api({
        "guid": RUN_ID, "extractorId": "ext-1", "state": state, "totalUrlCount": total,
        "successUrlCount": success, "failedUrlCount": failed, "rowCount": rows,
        "startedAt": 1772366400000, "stoppedAt": None, "_meta": {"creationTimestamp": 1772366400000},
    })


def outcome(record: CrawlRun, deadline: datetime | None = None, now: datetime = NOW) -> CrawlOutcome:
    return crawl_run_outcome(record, now=now, deadline=deadline)


def test_finished_with_every_url_accounted_for_is_success():
    result = outcome(run("FINISHED", total=4, success=3, failed=1, rows=12), deadline=NOW - timedelta(hours=1))
    assert result.status is CrawlStatus.SUCCESS and result.terminal
    assert (result.state, result.extractor_id, result.row_count) == ("FINISHED", "ext-1", 12)
    assert (result.total_url_count, result.success_url_count, result.failed_url_count) == (4, 3, 1)
    assert RUN_ID in result.message and "FINISHED" in result.message
    assert "3/4 URLs succeeded, 1 failed, 12 rows" in result.message


def test_finished_with_counts_that_do_not_add_up_is_still_running():
    result = outcome(run("FINISHED", total=4, success=2, failed=1))
    assert result.status is CrawlStatus.RUNNING and not result.terminal
    assert "only 3 of 4 URLs are accounted for" in result.message


def test_finished_with_incomplete_counts_after_the_deadline_is_late():
    result = outcome(run("FINISHED", total=4, success=2, failed=1), deadline=NOW)
    assert result.status is CrawlStatus.LATE and result.terminal
    assert "FINISHED but only 3 of 4" in result.message


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_failed_and_cancelled_runs_fail_even_after_the_deadline(state):
    for deadline in (None, NOW + timedelta(hours=1), NOW - timedelta(hours=1)):
        result = outcome(run(state, success=1, failed=1, rows=2), deadline=deadline)
        assert result.status is CrawlStatus.FAILED and result.terminal
        assert f"ended {state}" in result.message and RUN_ID in result.message


@pytest.mark.parametrize("state", ["PENDING", "STARTED"])
def test_a_run_in_progress_is_running_before_the_deadline(state):
    for deadline in (None, NOW + timedelta(seconds=1)):
        result = outcome(run(state, success=1), deadline=deadline)
        assert result.status is CrawlStatus.RUNNING and not result.terminal
        assert f"is {state}" in result.message and "1/4 URLs succeeded" in result.message


@pytest.mark.parametrize("state", ["PENDING", "STARTED"])
def test_a_run_in_progress_at_or_after_the_deadline_is_late(state):
    for deadline in (NOW, NOW - timedelta(minutes=5)):
        result = outcome(run(state), deadline=deadline)
        assert result.status is CrawlStatus.LATE and result.terminal
        assert f"still {state} at the deadline {deadline.isoformat()}" in result.message


def test_naive_datetimes_are_taken_as_utc():
    naive_now = NOW.replace(tzinfo=None)
    assert outcome(run("STARTED"), deadline=NOW, now=naive_now).status is CrawlStatus.LATE
    assert outcome(run("STARTED"), deadline=naive_now + timedelta(seconds=1)).status is CrawlStatus.RUNNING


def test_outcome_dict_round_trip_is_json_safe():
    result = outcome(run("FINISHED", success=4, rows=9))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "success" and CrawlOutcome.from_dict(data) == result


@pytest.mark.parametrize("event", [
    None, "success", {"status": "running", "crawl_run_id": RUN_ID, "message": "m"},
    {"status": "done", "crawl_run_id": RUN_ID, "message": "m"}, {"crawl_run_id": RUN_ID, "message": "m"},
    {"status": "success", "message": "m"}, {"status": "success", "crawl_run_id": RUN_ID, "message": ""},
    {"status": "success", "crawl_run_id": RUN_ID, "message": "m", "row_count": "12"},
    {"status": "success", "crawl_run_id": RUN_ID, "message": "m", "row_count": True},
])
def test_from_dict_refuses_anything_but_a_known_final_outcome(event):
    with pytest.raises(ValueError):
        CrawlOutcome.from_dict(event)


def test_parse_deadline():
    assert parse_deadline(None) is None and parse_deadline("") is None
    assert parse_deadline("2026-03-01T12:00:00Z") == NOW
    assert parse_deadline("2026-03-01 13:00:00+01:00") == NOW
    assert parse_deadline("2026-03-01T12:00:00") == NOW  # naive: UTC
    assert parse_deadline(NOW.replace(tzinfo=None)) == NOW
    assert deadline_iso("2026-03-01T12:00:00Z") == "2026-03-01T12:00:00+00:00"
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_deadline("tomorrow")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_deadline(12)  # type: ignore[arg-type]


def _error(cls: type[ApiError], status: int | None) -> ApiError:
    return cls(f"Import.io GET /crawlruns/x answered {status}", service="Import.io", status=status)


@pytest.mark.parametrize(("cls", "status", "transient"), [
    (TransportError, None, True), (RequestTimeoutError, None, True), (RateLimitedError, 429, True),
    (ServerError, 500, True), (ServerError, 503, True), (ApiError, 502, True),
    (UnauthorizedError, 401, False), (ForbiddenError, 403, False), (NotFoundError, 404, False),
    (BadRequestError, 400, False), (InvalidResponseError, 200, False),
])
def test_transient_errors(cls, status, transient):
    assert is_transient_error(_error(cls, status)) is transient


class FakeTime:
    """A clock and a sleep that advances it."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_waits_never_pass_the_deadline():
    fake = FakeTime()
    poller = CrawlRunPoller(RUN_ID, deadline=NOW + timedelta(seconds=25), interval=10, clock=fake.clock)
    assert poller.wait_seconds() == 10
    fake.now += timedelta(seconds=20)
    assert poller.wait_seconds() == 5
    fake.now += timedelta(seconds=10)
    assert poller.wait_seconds() == 0
    assert CrawlRunPoller(RUN_ID, deadline=None, interval=7, clock=fake.clock).wait_seconds() == 7
    with pytest.raises(ValueError):
        CrawlRunPoller(RUN_ID, deadline=None, interval=-1)


def test_poll_tolerates_transient_errors_and_logs_progress_sparingly(caplog):
    fake = FakeTime()
    answers: list[CrawlRun | ApiError] = [
        run("PENDING"), _error(ServerError, 503), run("STARTED", success=1), run("STARTED", success=1),
        run("STARTED", success=2), _error(TransportError, None), run("FINISHED", success=3, failed=1, rows=7),
    ]
    calls: list[str] = []

    def get_run(crawl_run_id: str) -> CrawlRun:
        calls.append(crawl_run_id)
        answer = answers.pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    log = logging.getLogger("test.crawl_status")
    with caplog.at_level(logging.INFO, logger="test.crawl_status"):
        result = poll_crawl_run(get_run, RUN_ID, deadline=None, interval=10, sleep=fake.sleep, clock=fake.clock,
                                log=log, log_every=20)
    assert result.status is CrawlStatus.SUCCESS and result.row_count == 7
    assert calls == [RUN_ID] * 7 and fake.sleeps == [10] * 6
    progress = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    # t=0 PENDING (new state), t=20 STARTED (new state), t=30 nothing (10 s later), t=40 (20 s), the end
    assert progress == [
        f"Import.io crawl run {RUN_ID}: PENDING, 0/4 URLs succeeded, 0 failed, 0 rows",
        f"Import.io crawl run {RUN_ID}: STARTED, 1/4 URLs succeeded, 0 failed, 0 rows",
        f"Import.io crawl run {RUN_ID}: STARTED, 2/4 URLs succeeded, 0 failed, 0 rows",
        result.message,
    ]
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2


@pytest.mark.parametrize("cls,status", [(UnauthorizedError, 401), (ForbiddenError, 403), (NotFoundError, 404)])
def test_poll_raises_at_once_on_errors_that_will_not_get_better(cls, status):
    fake = FakeTime()
    error = _error(cls, status)

    def get_run(crawl_run_id: str) -> CrawlRun:
        raise error

    with pytest.raises(cls) as raised:
        poll_crawl_run(get_run, RUN_ID, deadline=None, interval=10, sleep=fake.sleep, clock=fake.clock)
    assert raised.value is error and fake.sleeps == []


def test_poll_is_late_at_the_deadline_not_an_interval_after_it():
    fake = FakeTime()
    result = poll_crawl_run(lambda _: run("STARTED", success=1), RUN_ID, deadline=NOW + timedelta(seconds=25),
                            interval=10, sleep=fake.sleep, clock=fake.clock)
    assert result.status is CrawlStatus.LATE and fake.sleeps == [10, 10, 5]
    assert "still STARTED" in result.message


def test_transient_errors_until_the_deadline_make_it_late():
    fake = FakeTime()
    answers: list[CrawlRun | ApiError] = [run("STARTED", success=2)] + [_error(ServerError, 502)] * 10

    def get_run(crawl_run_id: str) -> CrawlRun:
        answer = answers.pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    result = poll_crawl_run(get_run, RUN_ID, deadline=NOW + timedelta(seconds=30), interval=10,
                            sleep=fake.sleep, clock=fake.clock)
    assert result.status is CrawlStatus.LATE and result.state == "STARTED" and result.success_url_count == 2
    assert "The last poll failed" in result.message and "502" in result.message

    never_read = poll_crawl_run(lambda _: (_ for _ in ()).throw(_error(TransportError, None)), RUN_ID,
                                deadline=NOW, interval=10, sleep=fake.sleep, clock=fake.clock)
    assert never_read.status is CrawlStatus.LATE and never_read.state is None
    assert "could not be read before the deadline" in never_read.message
