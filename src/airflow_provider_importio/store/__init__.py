"""The project's own SQL store (SQLite by default, PostgreSQL in production); see ``docs/store.md``.

Exports resolve lazily, so importing this package does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import (
        AlarmChange,
        AlarmState,
        Delivery,
        DeliveryState,
        Lease,
        Push,
        PushStatus,
        Snapshot,
        StatValue,
        Transition,
    )
    from airflow_provider_importio.store.store import (
        LeaseHandle,
        LeaseUnavailable,
        NotFound,
        Store,
        StoreError,
    )
    from airflow_provider_importio.workbench.snapshot_states import (
        ConcurrentTransition,
        IllegalTransition,
        SnapshotState,
    )

_RECORDS = "airflow_provider_importio.store.records"
_STORE = "airflow_provider_importio.store.store"
_STATES = "airflow_provider_importio.workbench.snapshot_states"
_EXPORTS = {
    **dict.fromkeys(["AlarmChange", "AlarmState", "Delivery", "DeliveryState", "Lease", "Push", "PushStatus",
                     "Snapshot", "StatValue", "Transition"], _RECORDS),
    **dict.fromkeys(["LeaseHandle", "LeaseUnavailable", "NotFound", "Store", "StoreError"], _STORE),
    **dict.fromkeys(["ConcurrentTransition", "IllegalTransition", "SnapshotState"], _STATES),
}
__all__ = [
    "AlarmChange",
    "AlarmState",
    "ConcurrentTransition",
    "Delivery",
    "DeliveryState",
    "IllegalTransition",
    "Lease",
    "LeaseHandle",
    "LeaseUnavailable",
    "NotFound",
    "Push",
    "PushStatus",
    "Snapshot",
    "SnapshotState",
    "StatValue",
    "Store",
    "StoreError",
    "Transition",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
