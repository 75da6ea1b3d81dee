"""Is an Import.io crawl run done, failed or late? One decision, shared by every wait.

:func:`crawl_run_outcome` is the only place that reads a :class:`CrawlRun` into a status. The
sensor's poke, the trigger and an operator's synchronous wait all go through it, by way of
:class:`CrawlRunPoller` (which also owns the deadline-aware wait between polls, the tolerance of
transient API errors and the progress log). :func:`poll_crawl_run` is the synchronous loop.
No Airflow imports.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from airflow_provider_importio.clients.errors import ApiError, RateLimitedError, ServerError, TransportError
from airflow_provider_importio.clients.importio_records import CrawlRun, CrawlRunState

_log = logging.getLogger(__name__)

#: Default seconds between two progress lines of the same wait.
DEFAULT_LOG_EVERY = 60.0


class CrawlStatus(str, enum.Enum):
    """Where a wait for a crawl run stands."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    LATE = "late"


@dataclass(frozen=True)
class CrawlOutcome:
    """A crawl run's status with a human message and the run's counts (all JSON-safe).

    ``to_dict()`` is the payload of the trigger's event; ``from_dict()`` reads it back and refuses
    anything that is not a known terminal status.
    """

    status: CrawlStatus
    message: str
    crawl_run_id: str
    state: str | None = None
    extractor_id: str | None = None
    row_count: int | None = None
    total_url_count: int | None = None
    success_url_count: int | None = None
    failed_url_count: int | None = None

    @property
    def terminal(self) -> bool:
        """True when the wait is over (success, failed or late)."""
        return self.status is not CrawlStatus.RUNNING

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: Any) -> CrawlOutcome:
        """An outcome from :meth:`to_dict`'s form; ``ValueError`` unless it is a well-formed,
        terminal outcome (a wait never reports "running")."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping, got {type(data).__name__}")
        try:
            status = CrawlStatus(data.get("status"))
        except ValueError:
            raise ValueError(f"unknown status {data.get('status')!r}") from None
        if status is CrawlStatus.RUNNING:
            raise ValueError("status 'running' is not a final outcome")
        for key in ("crawl_run_id", "message"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"{key!r} must be a non-empty string")
        counts = ("row_count", "total_url_count", "success_url_count", "failed_url_count")
        for key in counts:
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{key!r} must be an integer or null, got {value!r}")
        for key in ("state", "extractor_id"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key!r} must be a string or null")
        return cls(
            status=status, message=data["message"], crawl_run_id=data["crawl_run_id"], state=data.get("state"),
            extractor_id=data.get("extractor_id"), **{key: data.get(key) for key in counts},
        )


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_deadline(value: str | datetime | None) -> datetime | None:
    """A deadline as an aware datetime: a datetime (naive = UTC), an ISO 8601 string, or ``None``/""."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, str):
        try:
            return _aware(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f"deadline must be an ISO 8601 date-time or a datetime, got {value!r}")


def deadline_iso(value: str | datetime | None) -> str | None:
    """The deadline as an ISO 8601 string (for serialized triggers), validated."""
    deadline = parse_deadline(value)
    return deadline.isoformat() if deadline else None


def is_transient_error(error: BaseException) -> bool:
    """No answer, 429 or 5xx: the transport already retried; a later poll may well succeed.
    Anything else (401, 403, 404, other 4xx, an unreadable answer) will not get better."""
    if isinstance(error, (TransportError, RateLimitedError, ServerError)):
        return True
    status = getattr(error, "status", None) if isinstance(error, ApiError) else None
    return status is not None and (status == 429 or status >= 500)


def _progress(run: CrawlRun) -> str:
    return (f"{run.success_url_count}/{run.total_url_count} URLs succeeded, {run.failed_url_count} failed, "
            f"{run.row_count} rows")


def crawl_run_outcome(run: CrawlRun, *, now: datetime, deadline: datetime | None) -> CrawlOutcome:
    """Decide whether ``run`` succeeded, failed, is late or still running.

    * FINISHED with ``totalUrlCount == successUrlCount + failedUrlCount`` → success;
    * FAILED or CANCELLED → failed (an ended run is never "late");
    * otherwise (PENDING, STARTED, or FINISHED while its counts do not add up yet) → late once
      ``now >= deadline``, else running.
    """
    counts = _progress(run)
    state = run.state
    name = f"Import.io crawl run {run.guid}"
    if state is CrawlRunState.FINISHED and run.is_complete:
        status, message = CrawlStatus.SUCCESS, f"{name} FINISHED: {counts}."
    elif state in (CrawlRunState.FAILED, CrawlRunState.CANCELLED):
        status, message = CrawlStatus.FAILED, f"{name} ended {state.value}: {counts}."
    else:
        if state is CrawlRunState.FINISHED:
            done = run.success_url_count + run.failed_url_count
            where = f"FINISHED but only {done} of {run.total_url_count} URLs are accounted for"
        else:
            where = state.value
        if deadline is not None and _aware(now) >= _aware(deadline):
            status = CrawlStatus.LATE
            message = f"{name} is late: still {where} at the deadline {_aware(deadline).isoformat()}; {counts}."
        else:
            status, message = CrawlStatus.RUNNING, f"{name} is {where}: {counts}."
    return CrawlOutcome(
        status=status, message=message, crawl_run_id=run.guid, state=state.value, extractor_id=run.extractor_id,
        row_count=run.row_count, total_url_count=run.total_url_count, success_url_count=run.success_url_count,
        failed_url_count=run.failed_url_count,
    )


class CrawlRunPoller:
    """One wait for one crawl run, driven by a loop that fetches the run (sync or async).

    Feed each poll's answer to :meth:`observe` (a run) or :meth:`observe_error` (an
    :class:`ApiError`); stop when the outcome is terminal, else wait :meth:`wait_seconds`.
    Progress (state, URLs, rows) is logged when the state changes and otherwise at most every
    ``log_every`` seconds.
    """

    def __init__(self, crawl_run_id: str, *, deadline: datetime | None, interval: float,
                 clock: Callable[[], datetime] = utc_now, log: logging.Logger | Any | None = None,
                 log_every: float = DEFAULT_LOG_EVERY) -> None:
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval!r}")
        self.crawl_run_id = crawl_run_id
        self.deadline = _aware(deadline) if deadline else None
        self.interval = float(interval)
        self.clock = clock
        self.log = log or _log
        self.log_every = float(log_every)
        self.last_run: CrawlRun | None = None
        self._logged_at: datetime | None = None
        self._logged_state: CrawlRunState | None = None

    def observe(self, run: CrawlRun) -> CrawlOutcome:
        """The outcome of a poll that read the run."""
        now = self.clock()
        self.last_run = run
        outcome = crawl_run_outcome(run, now=now, deadline=self.deadline)
        if outcome.terminal:
            self.log.info("%s", outcome.message)
        elif (run.state is not self._logged_state or self._logged_at is None
              or (now - self._logged_at).total_seconds() >= self.log_every):
            self.log.info("Import.io crawl run %s: %s, %s", run.guid, run.state.value, _progress(run))
            self._logged_at, self._logged_state = now, run.state
        return outcome

    def observe_error(self, error: ApiError) -> CrawlOutcome:
        """The outcome of a poll that failed: re-raises ``error`` unless it is transient; a
        transient error is a "running" outcome until the deadline passes, then "late"."""
        if not is_transient_error(error):
            raise error
        now = self.clock()
        if self.deadline is not None and now >= self.deadline:
            if self.last_run is not None:
                outcome = crawl_run_outcome(self.last_run, now=now, deadline=self.deadline)
                if outcome.terminal:  # the last run read was still running: it is late
                    return replace(outcome, message=f"{outcome.message} The last poll failed: {error}")
            message = (f"Import.io crawl run {self.crawl_run_id} is late: it could not be read before the "
                       f"deadline {self.deadline.isoformat()} ({error}).")
            return CrawlOutcome(CrawlStatus.LATE, message, self.crawl_run_id)
        self.log.warning("Import.io crawl run %s could not be read (%s); polling again in %.1f s",
                         self.crawl_run_id, error, self.wait_seconds())
        return CrawlOutcome(CrawlStatus.RUNNING, f"Import.io crawl run {self.crawl_run_id} could not be read: {error}",
                            self.crawl_run_id)

    def wait_seconds(self) -> float:
        """Seconds until the next poll: ``interval``, but never past the deadline."""
        if self.deadline is None:
            return self.interval
        remaining = (self.deadline - self.clock()).total_seconds()
        return max(0.0, min(self.interval, remaining))


def poll_crawl_run(get_run: Callable[[str], CrawlRun], crawl_run_id: str, *, deadline: datetime | None,
                   interval: float, sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], datetime] = utc_now, log: logging.Logger | Any | None = None,
                   log_every: float = DEFAULT_LOG_EVERY) -> CrawlOutcome:
    """Poll ``get_run(crawl_run_id)`` every ``interval`` seconds until the run succeeds, fails or
    is late; return that outcome (never "running").

    Transient errors (no answer, 429, 5xx; already retried by the transport) are logged and polled
    through until the deadline; any other :class:`ApiError` (401, 403, 404, ...) is raised at
    once. Without a deadline the wait is bounded only by the caller (e.g. the task's
    ``execution_timeout``).
    """
    poller = CrawlRunPoller(crawl_run_id, deadline=deadline, interval=interval, clock=clock, log=log,
                            log_every=log_every)
    while True:
        error: ApiError | None = None
        try:
            run = get_run(crawl_run_id)
        except ApiError as exc:
            error = exc
        outcome = poller.observe_error(error) if error is not None else poller.observe(run)
        if outcome.terminal:
            return outcome
        sleep(poller.wait_seconds())
