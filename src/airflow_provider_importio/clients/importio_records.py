"""Typed records for Import.io API objects.

Each record keeps the fields this project uses, typed, and the whole decoded object in ``raw``
(left out of ``repr``) for anything else. Timestamps arrive as epoch milliseconds from the live
service and as ISO 8601 strings in the published spec; :func:`parse_timestamp` reads both.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: Attachment ids a finished crawl run carries, one per result file type.
CRAWL_RUN_FILE_TYPES = ("json", "csv", "xlsx", "log", "sample", "files")
REPORT_RUN_FILE_TYPES = ("csv", "xlsx", "json")


class CrawlRunState(str, enum.Enum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (CrawlRunState.FINISHED, CrawlRunState.FAILED, CrawlRunState.CANCELLED)


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch milliseconds or an ISO 8601 string as an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if value is not None else 0


def _created(data: Mapping[str, Any]) -> datetime | None:
    meta = data.get("_meta") or {}
    return parse_timestamp(meta.get("creationTimestamp") or meta.get("createdAt"))


@dataclass(frozen=True)
class User:
    guid: str
    username: str | None
    email: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> User:
        return cls(guid=data["guid"], username=data.get("username"), email=data.get("email"), raw=data)


@dataclass(frozen=True)
class Subscription:
    plan_code: str | None
    current_usage: int
    max_usage: int | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subscription:
        max_usage = data.get("maxUsage")
        return cls(
            plan_code=data.get("planCode"),
            current_usage=_int(data, "currentUsage"),
            max_usage=int(max_usage) if max_usage is not None else None,
            raw=data,
        )


@dataclass(frozen=True)
class Extractor:
    guid: str
    name: str | None
    archived: bool
    fields: tuple[str, ...]
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    #: The configuration the extractor runs with (``latestConfigId``); a deploy points the
    #: production extractor at the staging extractor's one.
    latest_config_id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Extractor:
        return cls(
            guid=data["guid"],
            name=data.get("name"),
            archived=bool(data.get("archived", False)),
            fields=tuple(f.get("name", "") for f in data.get("fields") or ()),
            created_at=_created(data),
            raw=data,
            latest_config_id=data.get("latestConfigId"),
        )


@dataclass(frozen=True)
class CrawlRun:
    guid: str
    extractor_id: str | None
    state: CrawlRunState
    started_at: datetime | None
    stopped_at: datetime | None
    total_url_count: int
    success_url_count: int
    failed_url_count: int
    row_count: int
    created_at: datetime | None
    attachments: Mapping[str, str] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CrawlRun:
        return cls(
            guid=data["guid"],
            extractor_id=data.get("extractorId"),
            state=CrawlRunState(data["state"]),
            started_at=parse_timestamp(data.get("startedAt")),
            stopped_at=parse_timestamp(data.get("stoppedAt")),
            total_url_count=_int(data, "totalUrlCount"),
            success_url_count=_int(data, "successUrlCount"),
            failed_url_count=_int(data, "failedUrlCount"),
            row_count=_int(data, "rowCount"),
            created_at=_created(data),
            attachments={k: data[k] for k in CRAWL_RUN_FILE_TYPES if isinstance(data.get(k), str)},
            raw=data,
        )

    @property
    def is_complete(self) -> bool:
        """FINISHED with every URL accounted for (Import.io's own definition of complete)."""
        return (
            self.state is CrawlRunState.FINISHED
            and self.total_url_count == self.success_url_count + self.failed_url_count
        )


@dataclass(frozen=True)
class Report:
    guid: str
    name: str | None
    type: str | None
    extractor_id: str | None
    archived: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            guid=data["guid"],
            name=data.get("name"),
            type=data.get("type"),
            extractor_id=data.get("extractorId"),
            archived=bool(data.get("archived", False)),
            raw=data,
        )


@dataclass(frozen=True)
class ReportRun:
    guid: str
    report_id: str | None
    status: str | None
    error_message: str | None
    created_at: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ReportRun:
        return cls(
            guid=data["guid"],
            report_id=data.get("reportId"),
            status=data.get("status"),
            error_message=data.get("errorMessage"),
            created_at=_created(data),
            raw=data,
        )
