"""What the store returns: frozen dataclasses, one per table, and the small status enums."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from airflow_provider_importio.workbench.snapshot_states import SnapshotState

R = TypeVar("R")


class DeliveryState(str, Enum):
    """A delivery is OPEN while its snapshots run; a finished delivery is CLOSED (Workbench)."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"

    def __str__(self) -> str:
        return self.value


class PushStatus(str, Enum):
    """The outcome of one push attempt of a snapshot to a destination."""

    PUSHED = "PUSHED"
    FAILED = "FAILED"
    DRY_RUN = "DRY_RUN"

    def __str__(self) -> str:
        return self.value


def _from_row(cls: type[R], row: Mapping[Any, Any], **converted: Any) -> R:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in row.items() if k in names}
    values.update(converted)
    return cls(**values)


@dataclass(frozen=True)
class Delivery:
    id: str
    project: str
    flow: str
    dag_id: str
    run_id: str
    start: datetime | None
    state: DeliveryState
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Delivery:
        return _from_row(cls, row, state=DeliveryState(row["state"]))


@dataclass(frozen=True)
class Snapshot:
    """One collection run of one source chunk within a delivery (``attempt`` counts re-runs)."""

    id: str
    delivery_id: str
    project: str
    flow: str
    collection: str
    source: str
    chunk: int
    attempt: int
    state: SnapshotState
    version: int
    created_at: datetime
    updated_at: datetime
    supersedes: str | None = None
    extractor_id: str | None = None
    crawl_run_id: str | None = None
    input_count: int | None = None
    row_count: int | None = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    state_reason: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Snapshot:
        return _from_row(cls, row, state=SnapshotState(row["state"]),
                         artifacts=dict(row["artifacts"] or {}), options=dict(row["options"] or {}))


@dataclass(frozen=True)
class Transition:
    """One row of a snapshot's history: who moved it, when and why (``from_state`` is ``None``
    for the row that records its creation)."""

    snapshot_id: str
    version: int
    from_state: SnapshotState | None
    to_state: SnapshotState
    actor: str
    at: datetime
    reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Transition:
        return _from_row(cls, row, to_state=SnapshotState(row["to_state"]),
                         from_state=SnapshotState(row["from_state"]) if row["from_state"] else None)


@dataclass(frozen=True)
class Push:
    id: int
    snapshot_id: str
    destination: str
    attempt: int
    status: PushStatus
    uri: str | None
    byte_count: int | None
    row_count: int | None
    error: str | None
    actor: str
    at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Push:
        return _from_row(cls, row, status=PushStatus(row["status"]))


@dataclass(frozen=True)
class AlarmState:
    alarm_group: str
    state: str
    since: datetime
    last_evaluated: datetime
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AlarmState:
        return _from_row(cls, row, details=dict(row["details"] or {}))


@dataclass(frozen=True)
class AlarmChange:
    """The result of recording an evaluation: ``changed`` is true for exactly one evaluator when
    the state moves (the one that should open or resolve the incident)."""

    previous: str | None
    current: AlarmState

    @property
    def changed(self) -> bool:
        return self.previous != self.current.state


@dataclass(frozen=True)
class Lease:
    extractor_id: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Lease:
        return _from_row(cls, row)


@dataclass(frozen=True)
class StatValue:
    """One statistic of one snapshot, for comparing a source with its history."""

    snapshot_id: str
    collection: str
    source: str
    name: str
    value: float | None
    recorded_at: datetime
