"""``ImportioCrawlRunTrigger`` and the one reader of its events.

The trigger polls with the same synchronous client every other wait uses, each call in a worker
thread (``asyncio.to_thread``), so the triggerer's event loop never blocks; the decision is
:func:`~airflow_provider_importio.workbench.crawl_status.crawl_run_outcome`'s. It yields exactly
one event: a terminal :class:`CrawlOutcome` (``status`` "success", "failed" or "late"), or
``{"status": "error", "message": ...}`` when the run cannot be read at all.

:func:`result_from_event` is the only place that reads such an event (the sensor's and the
operators' ``execute_complete``); :func:`result_from_outcome` does the same for an outcome from a
synchronous wait. Both return a small XCom-safe dict on success and raise otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_importio.workbench.crawl_status import (
    CrawlOutcome,
    CrawlRunPoller,
    CrawlStatus,
    deadline_iso,
    parse_deadline,
)

#: ``status`` of an event for a run that could not be read (bad key, unknown run, ...).
ERROR_STATUS = "error"
#: Keys of the dict a successful wait returns (and pushes as the task's XCom return value).
RESULT_KEYS = ("crawl_run_id", "extractor_id", "state", "row_count", "total_url_count", "success_url_count",
               "failed_url_count")


class ImportioCrawlRunException(AirflowException):
    """A wait for a crawl run did not end in success. ``status`` is "failed", "late" or "error";
    ``outcome`` the outcome when there is one."""

    default_status = ERROR_STATUS

    def __init__(self, message: str, status: str | None = None, outcome: CrawlOutcome | None = None) -> None:
        super().__init__(message)
        self.status = status or self.default_status
        self.outcome = outcome


class ImportioCrawlRunFailedException(ImportioCrawlRunException, AirflowFailException):
    """The crawl run ended FAILED or CANCELLED; a retry of the wait cannot change that (no retries)."""

    default_status = CrawlStatus.FAILED.value


class ImportioCrawlRunLateException(ImportioCrawlRunException):
    """The deadline passed before the run ended (a retry may find it ended since)."""

    default_status = CrawlStatus.LATE.value


class ImportioCrawlRunEventException(ImportioCrawlRunException):
    """The trigger reported an error, or sent an event that is not a known outcome."""


def error_event(message: str) -> dict[str, Any]:
    return {"status": ERROR_STATUS, "message": message}


def result_from_outcome(outcome: CrawlOutcome) -> dict[str, Any]:
    """Success → the run's ids, state and counts (:data:`RESULT_KEYS`); failed/late → raise."""
    if outcome.status is CrawlStatus.SUCCESS:
        data = outcome.to_dict()
        return {key: data[key] for key in RESULT_KEYS}
    if outcome.status is CrawlStatus.FAILED:
        raise ImportioCrawlRunFailedException(outcome.message, outcome=outcome)
    if outcome.status is CrawlStatus.LATE:
        raise ImportioCrawlRunLateException(outcome.message, outcome=outcome)
    raise ImportioCrawlRunEventException(f"Import.io crawl run {outcome.crawl_run_id} has not ended: {outcome.message}")


def outcome_from_event(event: Any) -> CrawlOutcome:
    """The outcome a trigger event carries; an "error" event or anything that is not a known,
    well-formed final outcome raises :class:`ImportioCrawlRunEventException`."""
    if isinstance(event, Mapping) and event.get("status") == ERROR_STATUS:
        raise ImportioCrawlRunEventException(f"Import.io crawl run wait failed: {event.get('message') or 'no message'}")
    try:
        return CrawlOutcome.from_dict(event)
    except ValueError as exc:
        shown = event.get("status") if isinstance(event, Mapping) else type(event).__name__
        raise ImportioCrawlRunEventException(f"Unknown trigger event (status {shown!r}): {exc}") from None


def result_from_event(event: Any) -> dict[str, Any]:
    """``execute_complete``'s whole job: the result dict of a "success" event, else raise."""
    return result_from_outcome(outcome_from_event(event))


class ImportioCrawlRunTrigger(BaseTrigger):
    """Wait in the triggerer for an Import.io crawl run to succeed, fail or be late.

    :param crawl_run_id: the crawl run.
    :param importio_conn_id: the Import.io connection.
    :param deadline: ISO 8601 date-time (or datetime) after which a run still going is "late".
    :param poll_interval: seconds between polls (the last wait ends at the deadline).
    """

    def __init__(self, crawl_run_id: str, importio_conn_id: str = "importio_default",
                 deadline: str | datetime | None = None, poll_interval: float = 30.0) -> None:
        super().__init__()
        if not crawl_run_id:
            raise ValueError("crawl_run_id must be a non-empty crawl run id")
        self.crawl_run_id = crawl_run_id
        self.importio_conn_id = importio_conn_id
        self.deadline = deadline_iso(deadline)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "crawl_run_id": self.crawl_run_id,
                "importio_conn_id": self.importio_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def _client(self) -> Any:
        """An ``ImportioClient`` over the transport the hook builds from the connection."""
        from airflow.providers.common.compat.connection import get_async_connection

        from airflow_provider_importio.clients.importio import ImportioClient
        from airflow_provider_importio.hooks.importio import ImportioHook

        conn = await get_async_connection(self.importio_conn_id, hook=ImportioHook)
        # transport_for reads extra_dejson and registers the key with the secrets masker: both
        # may talk to the supervisor synchronously, so they run off the event loop as well.
        transport = await asyncio.to_thread(ImportioHook.transport_for, conn)
        return ImportioClient.from_transport(transport)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_importio.clients.errors import ApiError

        try:
            poller = CrawlRunPoller(self.crawl_run_id, deadline=parse_deadline(self.deadline),
                                    interval=self.poll_interval, log=self.log)
            api = await self._client()
        except Exception as exc:  # a missing connection, no key, a bad extra or deadline
            yield TriggerEvent(error_event(f"Import.io crawl run {self.crawl_run_id} cannot be polled: {exc}"))
            return
        try:
            while True:
                fatal: ApiError | None = None
                try:
                    run = await asyncio.to_thread(api.get_crawl_run, self.crawl_run_id)
                except ApiError as exc:
                    try:
                        outcome = poller.observe_error(exc)
                    except ApiError as not_transient:  # messages of ApiErrors are masked already
                        fatal = not_transient
                else:
                    outcome = poller.observe(run)
                if fatal is not None:
                    self.log.error("%s", fatal)
                    yield TriggerEvent(error_event(str(fatal)))
                    return
                if outcome.terminal:
                    yield TriggerEvent(outcome.to_dict())
                    return
                await asyncio.sleep(poller.wait_seconds())
        except Exception as exc:  # an unreadable answer: report it rather than crash the trigger
            message = api.transport.masker.mask(f"Import.io crawl run {self.crawl_run_id} cannot be polled: {exc!r}")
            yield TriggerEvent(error_event(message))
        finally:
            api.close()
