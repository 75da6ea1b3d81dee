"""Run one push in a fresh process and report its memory: ``python push_memory_probe.py '<json>'``.

The JSON names the rows file, the format, the destinations and the store URL; the connections come
from the environment. A small push first warms everything up (imports, connections, the store), then
the big one runs while a thread samples the resident set size. Prints one JSON line:
``baseline_rss``, ``peak_rss``, ``peak_growth``, ``maxrss_growth`` (bytes), ``rows``, ``bytes``, ``seconds``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def main(spec: dict) -> dict:
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.transfers.destination_push import DeliveryPush
    from airflow_provider_importio.transfers.destinations import destination_from_dict

    store = Store.from_url(spec["store_url"])
    store.migrate()
    start = dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.timezone.utc)

    def snapshot(run_id: str, rows: str):
        delivery = store.get_or_create_delivery("shop", "staging", run_id, dag_id="shop__staging", start=start)
        snap = store.get_or_create_snapshot(delivery.id, "products", "shop-a", 0, actor="probe",
                                            initial_state="PENDING_IMPORT")
        return store.transition(snap.id, "PASSED_QA", actor="probe", artifacts={"rows": rows})

    destinations = [destination_from_dict(d) for d in spec["destinations"]]

    def push(snapshot_id: str) -> list:
        return DeliveryPush(store, destinations, spec["fields"], blank_row_for_no_data=True, actor="probe",
                            workdir=spec.get("workdir")).run([snapshot_id])

    run = os.path.basename(spec["rows"])  # each probe its own deliveries
    warm = push(snapshot(f"warm-up-{run}", spec["warm_rows"]).id)
    assert all(o.status == "PUSHED" for o in warm), warm
    big = snapshot(f"big-{run}", spec["rows"])
    baseline, baseline_max = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.monotonic()
    outcomes = push(big.id)
    seconds = time.monotonic() - began
    stop.set()
    sampler.join()
    assert all(o.status == "PUSHED" for o in outcomes), outcomes
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"baseline_rss": baseline, "peak_rss": peak[0], "peak_growth": peak[0] - baseline,
            "maxrss_growth": max(0, maxrss - baseline_max), "rows": outcomes[0].row_count,
            "bytes": outcomes[0].byte_count, "seconds": round(seconds, 2)}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
