"""``ImportioLeaseTrigger``: a chunk waits in the triggerer for its turn on a busy extractor.

One crawl per extractor at a time (the store's extractor lease). A waiting chunk used to come back
to a worker every ``lease_poll_interval`` to ask again; on a distributed Airflow each ask is a task
process. This trigger asks the store instead (in a thread, ``asyncio.to_thread``) and fires once:
when the lease is free and this snapshot is next in line (:meth:`Store.first_waiting`), or when the
lease has stayed free for ``patience`` seconds (the one ahead is not taking it: its chunk starts
later, or its task failed). The task then takes the lease as before; losing a race defers again.
All lease triggers of a triggerer share one store per connection id (one connection pool), made
on first use: a change to that connection's URL needs a triggerer restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

#: ``status`` of the one event: the lease is (probably) free for this snapshot.
FREE = "free"
#: One store (one connection pool) per connection id for all the lease triggers of a triggerer: a big
#: delivery parks a couple of hundred chunks at once, and a pool each would exhaust the database.
_STORES: dict[str, Any] = {}
_STORES_LOCK = threading.Lock()


def _shared_store(conn_id: str) -> Any:
    with _STORES_LOCK:
        if conn_id not in _STORES:
            from airflow_provider_importio.hooks.store import ImportioStoreHook

            _STORES[conn_id] = ImportioStoreHook(conn_id).get_store()
        return _STORES[conn_id]


class ImportioLeaseTrigger(BaseTrigger):
    """Fires ``{"status": "free", ...}`` when ``snapshot_id`` may take ``extractor_id``'s lease."""

    def __init__(self, store_conn_id: str, extractor_id: str, snapshot_id: str, *, poll_interval: float = 5.0,
                 patience: float = 60.0) -> None:
        super().__init__()
        self.store_conn_id = store_conn_id
        self.extractor_id = extractor_id
        self.snapshot_id = snapshot_id
        self.poll_interval = float(poll_interval)
        self.patience = float(patience)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "store_conn_id": self.store_conn_id, "extractor_id": self.extractor_id, "snapshot_id": self.snapshot_id,
            "poll_interval": self.poll_interval, "patience": self.patience})

    def _look(self) -> tuple[bool, bool]:
        """(lease free, this snapshot next in line); runs in a thread."""
        store = _shared_store(self.store_conn_id)
        free = store.lease_holder(self.extractor_id) is None
        return free, free and store.first_waiting(self.extractor_id) in (None, self.snapshot_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        free_since: float | None = None
        while True:
            free, first = await asyncio.to_thread(self._look)
            now = time.monotonic()
            free_since = (free_since or now) if free else None
            if first or (free_since is not None and now - free_since >= self.patience):
                waited = "next in line" if first else f"free for {now - free_since:.0f} s"  # type: ignore[operator]
                yield TriggerEvent({"status": FREE, "extractor_id": self.extractor_id,
                                    "snapshot_id": self.snapshot_id, "reason": waited})
                return
            await asyncio.sleep(self.poll_interval)
