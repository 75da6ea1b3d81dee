"""Typed records for Stitch Connect and Import API answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """A Stitch source (``GET /v4/sources/{id}``)."""

    id: int
    type: str
    name: str | None
    display_name: str | None
    paused_at: str | None
    deleted_at: str | None
    stitch_client_id: int | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Source:
        return cls(
            id=int(data["id"]),
            type=data.get("type", ""),
            name=data.get("name"),
            display_name=data.get("display_name"),
            paused_at=data.get("paused_at"),
            deleted_at=data.get("deleted_at"),
            stitch_client_id=data.get("stitch_client_id"),
            raw=data,
        )

    @property
    def is_active(self) -> bool:
        return not (self.paused_at or self.deleted_at or self.raw.get("system_paused_at"))


@dataclass(frozen=True)
class ImportToken:
    """An Import API access token; Stitch shows ``access_token`` once only."""

    id: int
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class BatchResult:
    """Stitch's answer to one accepted batch: 201 (accepted) or 202 (queued after an internal error)."""

    status_code: int
    status: str | None
    message: str | None
    records: int


@dataclass
class PushSummary:
    """What one ``push_records`` call sent."""

    table: str
    records: int = 0
    batches: int = 0
    bytes: int = 0
    accepted: int = 0
    queued: int = 0
    splits: int = 0
