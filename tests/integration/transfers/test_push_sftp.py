"""Pushes to a real SFTP server (asyncssh on loopback) through ``SFTPHook``: golden files, atomic
renames under a polling reader, re-runs, host keys and injected faults."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.integration.transfers.conftest import (
    GOLDEN,
    SFTP_CONN,
    assert_same_xlsx,
    make_snapshot,
    push_operator,
    sftp_destination,
)

FORMATS = ("JSON", "NDJSON", "CSV", "XLSX")
REMOTE_DIR = "/upload/prices/2027/53"
NAME = "products_2027-01-01_shop-a_0"


def final(server, ext: str = "csv") -> Path:
    return server.path(f"{REMOTE_DIR}/{NAME}.{ext}")


def files(server) -> list[str]:
    return sorted(str(p.relative_to(server.root)) for p in server.root.rglob("*") if p.is_file())


def write_rows_file(path: Path, count: int) -> Path:
    with open(path, "w") as out:
        for i in range(count):
            out.write(json.dumps({"_url": f"https://shop.example/p/{i}", "name": f"Product {i}", "price": f"{i}.99",
                                  "description": "x" * 200, "image": None, "_valid": True, "_errors": []}) + "\n")
    return path


def test_each_format_matches_its_golden_file_and_is_renamed_into_place(store, sftp_server):
    snapshot = make_snapshot(store)
    result = push_operator([snapshot.id], [sftp_destination(fmt) for fmt in FORMATS]).execute({})

    assert files(sftp_server) == sorted(f"{REMOTE_DIR[1:]}/{NAME}.{fmt.lower()}" for fmt in FORMATS)
    for fmt in ("JSON", "NDJSON", "CSV"):
        assert final(sftp_server, fmt.lower()).read_bytes() == (GOLDEN / f"snapshot.{fmt.lower()}").read_bytes(), fmt
    assert_same_xlsx(final(sftp_server, "xlsx"), GOLDEN / "snapshot.xlsx")

    port = sftp_server.port
    assert {r["uri"] for r in result} == {f"sftp://127.0.0.1:{port}{REMOTE_DIR}/{NAME}.{f.lower()}" for f in FORMATS}
    assert {r["asset_uri"] for r in result} == {f"sftp://127.0.0.1:{port}/upload/prices"}
    renames = sftp_server.stats.renames
    assert len(renames) == 4 and all(posix and old.startswith(new + ".partial-") for old, new, posix in renames)
    assert sftp_server.stats.connections == 4  # one connection per destination for the whole run
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED
    assert {p.status.value for p in store.pushes(snapshot_id=snapshot.id)} == {"PUSHED"}


def test_a_rerun_replaces_the_file_and_leaves_nothing_else(store, sftp_server):
    snapshot = make_snapshot(store)
    push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    push_operator([snapshot.id], [sftp_destination("CSV")], repush=True).execute({})
    assert files(sftp_server) == [f"{REMOTE_DIR[1:]}/{NAME}.csv"]
    assert final(sftp_server).read_bytes() == (GOLDEN / "snapshot.csv").read_bytes()
    assert len(store.pushes(snapshot_id=snapshot.id, status="PUSHED")) == 2


def test_a_reader_polling_during_a_slow_upload_never_sees_a_partial_file(store, sftp_server, tmp_path):
    snapshot = make_snapshot(store)
    push_operator([snapshot.id], [sftp_destination("NDJSON")]).execute({})
    target = final(sftp_server, "ndjson")
    old = target.read_bytes()

    big = write_rows_file(tmp_path / "big.ndjson", 12_000)  # ~3 MB of NDJSON, ~100 SFTP writes
    store.update_snapshot(snapshot.id, artifacts={"rows": str(big)})
    sftp_server.set_faults(write_delay=0.02)
    seen: dict[str, int] = {"old": 0, "new": 0, "partial_present": 0, "missing": 0, "torn": 0}
    new_holder: list[bytes] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            if any(p.name.startswith(target.name + ".partial-") for p in target.parent.iterdir()):
                seen["partial_present"] += 1
            try:
                data = target.read_bytes()
            except FileNotFoundError:
                seen["missing"] += 1
                continue
            if data == old:
                seen["old"] += 1
            elif data.startswith(b'{"_url":"https://shop.example/p/0"') and data.endswith(b'/p/11999","name":"Product 11999",'
                                                                                         b'"price":"11999.99","description":"'
                                                                                         + b"x" * 200 + b'","image":null}\n'):
                seen["new"] += 1
                new_holder[:] = [data]
            else:
                seen["torn"] += 1
            time.sleep(0.002)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        result = push_operator([snapshot.id], [sftp_destination("NDJSON")], repush=True).execute({})
        time.sleep(0.05)
    finally:
        stop.set()
        reader.join(10)
    assert result[0]["status"] == "PUSHED" and result[0]["row_count"] == 12_000
    assert seen["torn"] == 0 and seen["missing"] == 0, seen
    assert seen["partial_present"] > 10 and seen["old"] > 10 and seen["new"] > 0, seen  # it really polled mid-upload
    assert len(new_holder[0]) == result[0]["byte_count"]
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_a_mismatched_host_key_is_refused(store, sftp_server, monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN.upper()}", sftp_server.connection_json(host_key=sftp_server.other_host_key()))
    snapshot = make_snapshot(store)
    other = make_snapshot(store, source="shop-b")
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="does not match"):
        push_operator([snapshot.id, other.id], [sftp_destination("CSV")]).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert record.status.value == "FAILED" and "BadHostKeyException" in record.error
    assert "not connecting to 'sftp_test' again in this run" in store.pushes(snapshot_id=other.id)[0].error
    assert sftp_server.stats.connections == 1  # the second snapshot did not try again
    assert files(sftp_server) == [] and sftp_server.stats.bytes_written == 0
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PASSED_QA


def test_an_unknown_host_is_refused_unless_the_connection_opts_out(store, sftp_server, monkeypatch):
    env = f"AIRFLOW_CONN_{SFTP_CONN.upper()}"
    conn = sftp_server.connection()
    del conn["extra"]["host_key"]  # and HOME has no known_hosts
    monkeypatch.setenv(env, json.dumps(conn))
    snapshot = make_snapshot(store)
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="not found in known_hosts"):
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    assert files(sftp_server) == []

    conn["extra"]["no_host_key_check"] = "true"  # explicitly said
    monkeypatch.setenv(env, json.dumps(conn))
    push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    assert final(sftp_server).read_bytes() == (GOLDEN / "snapshot.csv").read_bytes()


def test_a_server_without_posix_rename_still_never_shows_a_partial_name(store, sftp_server):
    snapshot = make_snapshot(store)
    sftp_server.set_faults(posix_rename=False)
    push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    push_operator([snapshot.id], [sftp_destination("CSV")], repush=True).execute({})  # the file now exists
    assert files(sftp_server) == [f"{REMOTE_DIR[1:]}/{NAME}.csv"]
    assert final(sftp_server).read_bytes() == (GOLDEN / "snapshot.csv").read_bytes()
    assert all(not posix for _, _, posix in sftp_server.stats.renames)


def test_a_dropped_connection_fails_the_push_and_a_retry_cleans_up(store, sftp_server, tmp_path):
    snapshot = make_snapshot(store, rows_uri=write_rows_file(tmp_path / "rows.ndjson", 2_000))
    sftp_server.set_faults(disconnect_after_bytes=100_000)
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException):
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    assert not final(sftp_server).exists()
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert record.status.value == "FAILED"
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PASSED_QA

    sftp_server.set_faults()
    result = push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})  # the task's retry
    assert result[0]["status"] == "PUSHED"
    assert files(sftp_server) == [f"{REMOTE_DIR[1:]}/{NAME}.csv"]  # the stale partial file is gone
    assert final(sftp_server).stat().st_size == result[0]["byte_count"]
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED


@pytest.mark.parametrize("rows", [2_000, 30_000])  # paramiko reports a refused write itself past 100 in flight
def test_a_full_disk_fails_the_push_and_leaves_no_file(store, sftp_server, tmp_path, rows):
    snapshot = make_snapshot(store, rows_uri=write_rows_file(tmp_path / "rows.ndjson", rows))
    sftp_server.set_faults(disk_full_after_bytes=50_000)
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="No space left on device|the server refused a write"):
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    assert files(sftp_server) == []  # the partial file was removed
    assert store.pushes(snapshot_id=snapshot.id)[0].status.value == "FAILED"


def test_an_inactive_destination_is_a_dry_run_without_connecting(store, sftp_server):
    snapshot = make_snapshot(store)
    result = push_operator([snapshot.id], [sftp_destination("CSV", active=False)]).execute({})
    assert [r["status"] for r in result] == ["DRY_RUN"]
    assert files(sftp_server) == [] and sftp_server.stats.connections == 0
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert record.uri == f"sftp://127.0.0.1:{sftp_server.port}{REMOTE_DIR}/{NAME}.csv"
    assert (record.status.value, record.row_count, record.byte_count) == (
        "DRY_RUN", 6, len((GOLDEN / "snapshot.csv").read_bytes()))
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PASSED_QA
