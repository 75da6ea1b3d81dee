"""``ImportioCrawlRunSensor``: wait for an Import.io crawl run to finish, in a worker or deferred."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf

from airflow_provider_importio.links import (
    XCOM_CRAWL_RUN_ID,
    XCOM_EXTRACTOR_ID,
    ImportioCrawlRunLink,
    ImportioExtractorLink,
)


class ImportioCrawlRunSensor(BaseSensorOperator):
    """Wait until an Import.io crawl run is complete (FINISHED, with every URL accounted for).

    A run that ends FAILED or CANCELLED fails the task without retries
    (``ImportioCrawlRunFailedException``); a run still going at ``deadline`` fails it with
    ``ImportioCrawlRunLateException`` (retries apply: a retry may find the run ended). Transient
    API errors (no answer, 429, 5xx, after the hook's own retries) are polled through; 401, 403
    and 404 fail at once. With ``deferrable=True`` the wait runs in the triggerer
    (:class:`~airflow_provider_importio.triggers.crawl_run.ImportioCrawlRunTrigger`), after one
    check in the worker so a run that has already ended needs no deferral.

    Pushes XCom ``crawl_run_id`` and ``extractor_id`` (read by the extra links) and returns
    ``{"crawl_run_id", "extractor_id", "state", "row_count", "total_url_count",
    "success_url_count", "failed_url_count"}``.

    :param crawl_run_id: the crawl run (templated).
    :param importio_conn_id: the Import.io connection (templated).
    :param deadline: ISO 8601 date-time or datetime after which a run still going is late
        (templated), e.g. ``"{{ data_interval_end + macros.timedelta(hours=6) }}"``.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between polls, in both modes.
    """

    template_fields: Sequence[str] = ("crawl_run_id", "importio_conn_id", "deadline")
    operator_extra_links = (ImportioCrawlRunLink(), ImportioExtractorLink())
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        crawl_run_id: str,
        importio_conn_id: str = "importio_default",
        deadline: str | datetime | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: timedelta | float = 60,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.crawl_run_id = crawl_run_id
        self.importio_conn_id = importio_conn_id
        self.deadline = deadline
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> Any:
        from airflow_provider_importio.hooks.importio import ImportioHook

        return ImportioHook(importio_conn_id=self.importio_conn_id)

    @cached_property
    def _poller(self) -> Any:
        from airflow_provider_importio.workbench.crawl_status import CrawlRunPoller, parse_deadline

        return CrawlRunPoller(str(self.crawl_run_id), deadline=parse_deadline(self.deadline),
                              interval=self.poke_interval, log=self.log)

    def execute(self, context: Any) -> Any:
        if not self.crawl_run_id:
            raise ValueError("crawl_run_id rendered empty: give the crawl run to wait for")
        poller = self._poller  # parses the rendered deadline: a bad one fails before any poll
        context["ti"].xcom_push(key=XCOM_CRAWL_RUN_ID, value=self.crawl_run_id)
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return done.xcom_value
        from airflow_provider_importio.triggers.crawl_run import ImportioCrawlRunTrigger

        self.defer(
            trigger=ImportioCrawlRunTrigger(
                crawl_run_id=self.crawl_run_id, importio_conn_id=self.importio_conn_id,
                deadline=poller.deadline, poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One poll: True (with the result) when complete, False while running; failed/late raise."""
        from airflow_provider_importio.clients.errors import ApiError
        from airflow_provider_importio.triggers.crawl_run import result_from_outcome

        error: ApiError | None = None
        try:
            run = self.hook.get_crawl_run(self.crawl_run_id)
        except ApiError as exc:
            error = exc
        if error is not None:
            outcome = self._poller.observe_error(error)  # raises unless transient
        else:
            outcome = self._poller.observe(run)
            self._push_extractor_id(context, outcome.extractor_id)
        if not outcome.terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=result_from_outcome(outcome))

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: the result on success; failed, late, error or unknown events raise."""
        from airflow_provider_importio.triggers.crawl_run import outcome_from_event, result_from_outcome

        outcome = outcome_from_event(event)
        self._push_extractor_id(context, outcome.extractor_id, again=True)
        return result_from_outcome(outcome)

    def _push_extractor_id(self, context: Any, extractor_id: str | None, *, again: bool = False) -> None:
        """XCom ``extractor_id`` for the links: once per operator instance, unless ``again``."""
        if extractor_id and (again or getattr(self, "_pushed_extractor_id", None) != extractor_id):
            context["ti"].xcom_push(key=XCOM_EXTRACTOR_ID, value=extractor_id)
            self._pushed_extractor_id = extractor_id
