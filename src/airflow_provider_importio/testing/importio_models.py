"""Records of the Import.io emulator (users, extractors, runs, reports) and their JSON shapes.

Run states are not advanced by threads: a :class:`Lifecycle` computes a crawl run's or report
run's state, timestamps and progress from the clock whenever the run is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_importio.testing.importio_files import CRAWL_FILES, ReportResult, RunSource
from airflow_provider_importio.testing.importio_pages import RunTotals

PENDING, STARTED, FINISHED, FAILED, CANCELLED = "PENDING", "STARTED", "FINISHED", "FAILED", "CANCELLED"
ACTIVE_STATES = frozenset({PENDING, STARTED})
#: Share of a run's duration spent PENDING.
PENDING_SHARE = 0.1
CHANGE_REPORT = "CHANGE"
CRAWL_FILE_TYPES = tuple(CRAWL_FILES)
REPORT_FILE_TYPES = ("csv", "xlsx", "json")

START_REFUSED = "Extractor is archived or a crawl already in progress"
NOTHING_TO_STOP = "No in progress crawl found to cancel"
NO_RUN_TO_REPORT = "No FINISHED crawl run of the extractor to report on"
UPDATE_ARCHIVED = "Extractor is archived and cannot be updated"
#: Fields ``PATCH /extractors/{id}`` may set (the guide's deploy step, plus a rename).
UPDATABLE_EXTRACTOR_FIELDS = ("latestConfigId", "name")


def new_guid() -> str:
    return str(uuid.uuid4())


def epoch_ms(seconds: float) -> int:
    return int(seconds * 1000)


def iso8601(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meta(created: float, modified: float, owner_id: str) -> dict[str, Any]:
    """The ``_meta`` block: epoch-ms timestamps (facts) and ISO 8601 ones (spec)."""
    return {
        "creationTimestamp": epoch_ms(created),
        "modificationTimestamp": epoch_ms(modified),
        "createdAt": iso8601(created),
        "modifiedAt": iso8601(modified),
        "ownerId": owner_id,
        "creatorId": owner_id,
        "editorId": owner_id,
    }


def parse_inputs(inputs: Iterable[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Input objects (``{"_url": ..., **extra}``) from URLs or objects; ``ValueError`` if invalid."""
    parsed = []
    for item in inputs:
        obj = {"_url": item} if isinstance(item, str) else dict(item) if isinstance(item, Mapping) else None
        if obj is None or not isinstance(obj.get("_url"), str) or not obj["_url"].strip():
            raise ValueError(f"every input needs a non-empty string '_url': {item!r}")
        obj["_url"] = obj["_url"].strip()
        parsed.append(obj)
    if not parsed:
        raise ValueError("at least one input URL is required")
    return parsed


@dataclass
class Lifecycle:
    """PENDING for the first :data:`PENDING_SHARE` of ``duration``, STARTED, then FINISHED/FAILED."""

    created: float
    duration: float
    fails: bool = False
    cancelled_at: float | None = None

    @property
    def started(self) -> float:
        return self.created + PENDING_SHARE * self.duration

    @property
    def ends(self) -> float:
        return self.created + self.duration

    def state(self, now: float) -> str:
        if self.cancelled_at is not None:
            return CANCELLED
        if now < self.started:
            return PENDING
        if now < self.ends:
            return STARTED
        return FAILED if self.fails else FINISHED

    def progress(self, now: float) -> float:
        """Share of the work done, 0..1."""
        at = min(now, self.cancelled_at) if self.cancelled_at is not None else now
        if at >= self.ends:
            return 1.0
        if at < self.started:
            return 0.0
        return (at - self.started) / (self.ends - self.started)

    def started_at(self, now: float) -> float | None:
        until = now if self.cancelled_at is None else min(now, self.cancelled_at)
        return self.started if until >= self.started else None

    def stopped_at(self, now: float) -> float | None:
        if self.cancelled_at is not None:
            return self.cancelled_at
        return self.ends if now >= self.ends else None

    def modified(self, now: float) -> float:
        """Time of the latest state change so far."""
        stopped = self.stopped_at(now)
        if stopped is not None:
            return stopped
        return self.started if now >= self.started else self.created


@dataclass
class User:
    """An API user; ``api_key`` is never served."""

    guid: str
    username: str
    email: str
    api_key: str
    created: float

    def to_json(self) -> dict[str, Any]:
        return {
            "guid": self.guid,
            "username": self.username,
            "firstName": self.username.capitalize(),
            "lastName": "Emulator",
            "email": self.email,
            "company": "Import.io emulator",
            "roles": ["user"],
            "archived": False,
            "_meta": meta(self.created, self.created, self.guid),
        }


@dataclass
class Extractor:
    """An extractor with its fields and inputs (input lists are replaced, never mutated)."""

    guid: str
    name: str
    owner_id: str
    fields: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    created: float
    modified: float
    archived: bool = False
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    credentials_id: str | None = None
    url_list_id: str = field(default_factory=new_guid)
    runtime_config_id: str = field(default_factory=new_guid)
    #: Every configuration id the extractor has run with, oldest first (last = ``runtime_config_id``).
    config_history: list[str] = field(default_factory=list)
    #: Final counts of the current inputs, computed at the first start.
    totals_cache: RunTotals | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "guid": self.guid,
            "name": self.name,
            "fields": [dict(item) for item in self.fields],
            "tags": [],
            "archived": self.archived,
            "proxy": {},
            "webhooks": [dict(hook) for hook in self.webhooks],
            "chainingConfig": {},
            "latestConfigId": self.runtime_config_id,
            "_meta": meta(self.created, self.modified, self.owner_id),
        }
        if self.credentials_id is not None:
            doc["credentialsId"] = self.credentials_id
        return doc


@dataclass(frozen=True)
class ExtractorConfig:
    """A saved extractor configuration, what ``latestConfigId`` points at; never edited.

    Saving an edit of an extractor makes a new one. Extractors share a configuration after a
    duplicate or a deploy (``PATCH`` of ``latestConfigId``).
    """

    guid: str
    #: The extractor it was saved on.
    extractor_id: str
    owner_id: str
    fields: tuple[Mapping[str, Any], ...]
    created: float


@dataclass
class CrawlRun:
    """A crawl run: the inputs it started with, their final totals and its life cycle."""

    guid: str
    extractor_id: str
    owner_id: str
    runtime_config_id: str
    url_list_id: str
    source: RunSource
    totals: RunTotals
    life: Lifecycle
    attachments: dict[str, str] = field(default_factory=lambda: {kind: new_guid() for kind in CRAWL_FILE_TYPES})

    def counts(self, now: float) -> dict[str, int]:
        share = self.life.progress(now)
        totals = self.totals
        return {
            "totalUrlCount": totals.total,
            "successUrlCount": int(totals.success * share),
            "failedUrlCount": int(totals.failed * share),
            "rowCount": int(totals.rows * share),
            "screenCaptureCount": 0,
            "htmlExtractionCount": int(totals.html * share),
        }

    def urls_crawled(self, now: float) -> int:
        counts = self.counts(now)
        return counts["successUrlCount"] + counts["failedUrlCount"]

    def to_json(self, now: float) -> dict[str, Any]:
        state = self.life.state(now)
        started, stopped = self.life.started_at(now), self.life.stopped_at(now)
        return {
            "guid": self.guid,
            "extractorId": self.extractor_id,
            "runtimeConfigId": self.runtime_config_id,
            "urlListId": self.url_list_id,
            "state": state,
            "startedAt": epoch_ms(started) if started is not None else None,
            "stoppedAt": epoch_ms(stopped) if stopped is not None else None,
            **self.counts(now),
            **{kind: (ident if state == FINISHED else None) for kind, ident in self.attachments.items()},
            "_meta": meta(self.life.created, self.life.modified(now), self.owner_id),
        }


@dataclass
class Report:
    """A report on an extractor's crawl runs (``type`` upper-cased, e.g. ``CHANGE``)."""

    guid: str
    name: str
    type: str
    extractor_id: str
    owner_id: str
    created: float
    latest_config_id: str = field(default_factory=new_guid)

    def to_json(self) -> dict[str, Any]:
        return {
            "guid": self.guid,
            "name": self.name,
            "type": self.type,
            "extractorId": self.extractor_id,
            "latestConfigId": self.latest_config_id,
            "archived": False,
            "_meta": meta(self.created, self.created, self.owner_id),
        }


@dataclass
class ReportRun:
    """A report run; ``result`` is computed when it starts (``None`` when it will fail)."""

    guid: str
    report: Report
    inputs: dict[str, Any]
    life: Lifecycle
    result: ReportResult | None
    error_message: str | None = None
    attachments: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        kinds = REPORT_FILE_TYPES if self.report.type == CHANGE_REPORT else ("csv", "xlsx")
        self.attachments = {kind: new_guid() for kind in kinds}

    def to_json(self, now: float) -> dict[str, Any]:
        state = self.life.state(now)
        done = state == FINISHED
        return {
            "guid": self.guid,
            "name": self.report.name,
            "type": self.report.type,
            "status": state,
            "reportId": self.report.guid,
            "configId": self.report.latest_config_id,
            "extractorId": self.report.extractor_id,
            "inputs": dict(self.inputs),
            **{kind: (self.attachments.get(kind) if done else None) for kind in REPORT_FILE_TYPES},
            "summary": dict(self.result.summary) if done and self.result is not None else {},
            "errorMessage": self.error_message if state == FAILED else None,
            "archived": False,
            "_meta": meta(self.life.created, self.life.modified(now), self.report.owner_id),
        }


