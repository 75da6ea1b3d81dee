"""A whole staging delivery with every service faulting 20% of requests delivers what a fault-free one does.

Two deliveries of the example project (``make demo``'s: ``dag.test()`` in a subprocess, emulators in
threads), the same inputs and review answers. In the second, seeded faults hit one request in five:
the Import.io and Stitch emulators answer 429 (``Retry-After: 1``), 500 or 503, drop the connection
or answer 0.5 s late; S3 (through the Amazon provider, as the product does) is reached through a
:class:`~airflow_provider_importio.testing.fault_proxy.FaultProxy` in front of moto doing the same;
the SFTP server drops the connection at one in five of the requests that change an upload's state
(open, write, rename). Every destination (S3 objects, SFTP files, the Stitch warehouse) must then
hold exactly the rows of the fault-free delivery: nothing lost, nothing duplicated, no partial file.

The smaller tests below pin the two provider fixes the faulted delivery needed, one fault at a time.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_importio.testing.compose_local import REPO
from airflow_provider_importio.testing.fault_proxy import FaultProxy
from airflow_provider_importio.transfers.sftp_destination import PARTIAL_MARK
from tests.integration.distributed.test_celery_delivery import delivered
from tests.integration.operators.test_collection_run import context as collect_context
from tests.integration.operators.test_collection_run import env  # noqa: F401 - a fixture
from tests.integration.operators.test_collection_run import operator as collect_operator
from tests.integration.operators.test_collection_run import put_chunk

sys.path.insert(0, str(REPO / "scripts"))
import demo_support  # noqa: E402

pytestmark = pytest.mark.timeout(600)

DAG_ID = "shop__staging"
RATE = 0.2
KINDS = ("429", "500", "503", "drop", "delay")
SEED = 2026
#: The SFTP requests that change an upload's state: before any data, amid it, and before the rename.
SFTP_DROPS = ("open", "write", "rename")
#: The SFTP connection's extras: up to 10 repeats of an upload whose connection was lost.
SFTP_RETRIES = {"max_retries": 10, "backoff_base": 0.05}
_RETRY_LINE = re.compile(r"(?:GET|POST|PUT|PATCH|DELETE) (\S+) failed \([^)]*\); retry \d+ of \d+")


def _delivery(workdir: Path, *, faulty: bool, airflow_db: Path | None = None) -> dict[str, Any]:
    """One staging delivery; what the destinations hold, and what the faults did."""
    project = demo_support.load_project()
    sources = [s.slug for s in project.flow_collection(project.flow("staging")).sources]
    store_url = f"sqlite:///{workdir / 'store.db'}"
    with demo_support.servers(workdir, crawl_seconds=0.25) as srv, FaultProxy(srv.s3.url) as proxy:
        srv.s3.reset()  # moto keeps its buckets per process, not per server: start empty
        connections = demo_support.arrange(srv, project, "staging", demo_support.example_inputs(sources))
        if faulty:
            # S3 through the proxy, with the Amazon provider's own retries (botocore's default "legacy"
            # mode: 5 attempts on 429, 5xx and dropped connections); SFTP with more upload retries
            changed = {srv.s3.connection_json(): srv.s3.connection_json(endpoint_url=proxy.url),
                       srv.sftp.connection_json(): srv.sftp.connection_json(**SFTP_RETRIES)}
            connections = {conn_id: changed.get(value, value) for conn_id, value in connections.items()}
            for n, faults in enumerate((srv.importio.faults, srv.stitch.faults, proxy.faults)):
                faults.configure(rate=RATE, kinds=KINDS, retry_after=1, delay_seconds=0.5, seed=SEED + n)
            srv.sftp.set_faults(disconnect_rate=RATE, disconnect_on=SFTP_DROPS, seed=SEED)
        env = demo_support.airflow_env(workdir, connections, store_url)
        if airflow_db is None:
            demo_support.migrate(env, store_url)
        else:  # Airflow's database as the first delivery migrated it: saves a minute of CI time
            from airflow_provider_importio.store.store import Store

            with Store.from_url(store_url) as store:
                store.migrate()
            (workdir / "airflow-home").mkdir()
            shutil.copy(airflow_db, workdir / "airflow-home" / "airflow.db")
        started = time.monotonic()
        outcome = demo_support.run_delivery(env, DAG_ID, store_url, workdir / "run.log", timeout=400,
                                            progress=lambda line: None)
        seconds = time.monotonic() - started
        for faults in (srv.importio.faults, srv.stitch.faults, proxy.faults):
            faults.clear()  # reading the results below is not part of the test
        srv.sftp.set_faults()
        assert outcome.ok, outcome.log.read_text(errors="replace")[-8000:]
        srv.stitch.wait_loaded(timeout=30)
        warehouse = {f"{schema}.{table}": srv.stitch.rows(schema, table) for schema, table in srv.stitch.tables()}
        log = outcome.log.read_text(errors="replace")
        retried = Counter(_RETRY_LINE.findall(log))  # the provider's HTTP clients log each retry
        return {
            "rows": delivered(srv.s3.client(), srv.sftp.path("/"), warehouse),
            "files": sorted(p.name for p in srv.sftp.path("/").rglob("*") if p.is_file()),
            "seconds": seconds,
            "faulted": {
                "Import.io": Counter(r.fault for r in srv.importio.requests if r.fault),
                "Stitch": Counter(r.fault for r in srv.stitch.requests if r.fault),
                "S3": Counter(proxy.counts()["faulted"]),
                "SFTP": Counter(srv.sftp.stats.disconnects),
            },
            "requests": {"Import.io": len(srv.importio.requests), "Stitch": len(srv.stitch.requests),
                         "S3": proxy.counts()["requests"]},
            "retries": {
                "Import.io": sum(n for url, n in retried.items() if url.startswith(srv.importio.url)),
                "Stitch": sum(n for url, n in retried.items() if url.startswith(srv.stitch.url)),
                "S3": proxy.counts()["retries"],
                "SFTP": log.count("retrying the upload"),
            },
        }


def test_a_delivery_with_20_percent_faults_delivers_the_same_rows(tmp_path):
    started = time.monotonic()
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean = _delivery(tmp_path / "clean", faulty=False)
    faulty = _delivery(tmp_path / "faulty", faulty=True, airflow_db=tmp_path / "clean" / "airflow-home" / "airflow.db")
    total = time.monotonic() - started

    print(f"\nfault-free delivery {clean['seconds']:.0f} s, faulted delivery {faulty['seconds']:.0f} s, "
          f"test {total:.0f} s")
    for service in ("Import.io", "Stitch", "S3", "SFTP"):
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(faulty["faulted"][service].items()))
        of = f" of {faulty['requests'][service]} requests" if service in faulty["requests"] else ""
        print(f"{service}: {sum(faulty['faulted'][service].values())} faulted{of} ({kinds}); "
              f"{faulty['retries'][service]} retries")
    print("rows:", {kind: sum(rows.values()) for kind, rows in faulty["rows"].items()})

    for service in ("Import.io", "Stitch", "S3", "SFTP"):
        faulted = faulty["faulted"][service]
        assert sum(faulted.values()) > 0, (service, faulty["faulted"])
        # every request that failed (all faults but a late answer) was retried, or the delivery had failed
        assert faulty["retries"][service] >= sum(faulted.values()) - faulted["delay"] > 0, (service, faulty)
    assert set(clean["rows"]) == {"S3", "SFTP", "STITCH"}
    assert all(sum(rows.values()) > 0 for rows in clean["rows"].values()), clean["rows"]
    for kind, expected in clean["rows"].items():
        got = faulty["rows"][kind]
        missing, extra = expected - got, got - expected
        assert not missing and not extra, (kind, sum(missing.values()), sum(extra.values()), list(missing)[:2],
                                           list(extra)[:2])
    # as many SFTP files (their names hold the hour), none of them a partial upload left behind
    assert len(faulty["files"]) == len(clean["files"]) and not [f for f in faulty["files"] if PARTIAL_MARK in f]


# -- the SFTP writer on its own: an upload whose connection drops is repeated, nothing else is --


def _writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Any, **extra: Any) -> Any:
    from airflow_provider_importio.transfers.destinations import destination_from_dict
    from airflow_provider_importio.transfers.sftp_destination import SFTPDestinationWriter
    from tests.integration.transfers.conftest import SFTP_CONN, sftp_destination

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN.upper()}", server.connection_json(**extra))
    return SFTPDestinationWriter(destination_from_dict(sftp_destination()), connect_attempts=1)


def test_sftp_uploads_through_dropped_connections_arrive_whole_and_once(tmp_path, monkeypatch):
    from airflow_provider_importio.testing.sftp_server import SFTPTestServer

    local = tmp_path / "rows.csv"
    local.write_bytes(b"name,price\n" + b"thing,1.5\n" * 5_000)  # 50 kB: two writes
    with SFTPTestServer(tmp_path / "root") as server:
        writer = _writer(tmp_path, monkeypatch, server, max_retries=10, backoff_base=0.01)
        server.set_faults(disconnect_rate=0.1, seed=SEED)  # at every kind of file request
        try:
            for n in range(8):
                writer.upload(str(local), f"/upload/prices/f{n}.csv")
        finally:
            writer.close()
        files = sorted(p.relative_to(server.root).as_posix() for p in server.root.rglob("*") if p.is_file())
        assert files == [f"upload/prices/f{n}.csv" for n in range(8)]  # no partial file left
        assert all(server.path(f"/{f}").read_bytes() == local.read_bytes() for f in files)
        assert sum(server.stats.disconnects.values()) > 0
        # one connection, then one more for each one dropped: every dropped upload was repeated
        assert server.stats.connections == 1 + sum(server.stats.disconnects.values())


def test_sftp_retries_are_bounded_and_only_for_a_lost_connection(tmp_path, monkeypatch):
    from airflow_provider_importio.testing.sftp_server import SFTPTestServer

    local = tmp_path / "rows.csv"
    local.write_bytes(b"name\nthing\n")
    with SFTPTestServer(tmp_path / "root") as server:
        writer = _writer(tmp_path, monkeypatch, server, max_retries=2, backoff_base=0.01)
        server.set_faults(disconnect_rate=1.0, disconnect_on=("open",))
        with pytest.raises(Exception, match="connection dropped|Server connection dropped|Socket is closed"):
            writer.upload(str(local), "/upload/f.csv")
        assert server.stats.disconnects == {"open": 3} and server.stats.connections == 3  # the first try, 2 retries

        server.set_faults(disk_full_after_bytes=0)  # the server refuses the write; the connection stays up
        with pytest.raises(OSError, match="No space left|refused a write"):
            writer.upload(str(local), "/upload/f.csv")
        assert server.stats.connections == 4  # not repeated
        writer.close()


# -- the collection operator on its own: a start answered 500 is retried, and runs one crawl --


def test_a_start_answered_500_or_dropped_is_retried_and_runs_one_crawl(env):
    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    emulator.faults.script("500", "drop", path=r"/start$", method="POST")
    result = collect_operator(put_chunk(s3, 0, ["https://shop.example/p/1"]), extractor).execute(collect_context())
    assert result["state"] == "PENDING_IMPORT"
    assert emulator.request_count("POST", r"/start$") == 3 and len(emulator.crawl_runs(extractor)) == 1
