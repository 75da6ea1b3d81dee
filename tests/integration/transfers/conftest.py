"""Fixtures for destination pushes: a real SFTP server, a SQLite store, snapshots with rows files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_importio.testing.sftp_server import SFTPTestServer

GOLDEN = Path(__file__).resolve().parents[2] / "resources" / "golden"
ROWS = GOLDEN / "snapshot-rows.ndjson"
FIELDS = ["name", "price", "description", "image"]
START = dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.timezone.utc)
SFTP_CONN = "sftp_test"


@pytest.fixture
def sftp_server(tmp_path, monkeypatch) -> Iterator[SFTPTestServer]:
    """A real SFTP server on loopback serving ``tmp_path/sftp-root``; the connection ``sftp_test``
    points at it and verifies its host key. ``HOME`` is a fresh directory, so no ``known_hosts`` or
    SSH config of the machine plays a part."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with SFTPTestServer(tmp_path / "sftp-root") as server:
        monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN.upper()}", server.connection_json())
        yield server


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The project's store in a SQLite file, through the default store connection."""
    from airflow_provider_importio.hooks.store import ImportioStoreHook

    monkeypatch.setenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", json.dumps(
        {"conn_type": "importio_store", "extra": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}))
    return ImportioStoreHook().get_store()


def make_snapshot(store, rows_uri: str | Path | None = ROWS, *, state: str = "PASSED_QA", source: str = "shop-a",
                  chunk: int = 0, run_id: str = "manual__1", project: str = "shop"):
    """A snapshot of delivery ``run_id`` (starting at :data:`START`) in ``state``, its rows file at ``rows_uri``."""
    delivery = store.get_or_create_delivery(project, "staging", run_id, dag_id=f"{project}__staging", start=START)
    snapshot = store.get_or_create_snapshot(delivery.id, "products", source, chunk, actor="test",
                                            initial_state="PENDING_IMPORT")
    artifacts = {"rows": str(rows_uri)} if rows_uri else {}
    if state == "PASSED_QA":
        return store.transition(snapshot.id, "PASSED_QA", actor="qa", artifacts=artifacts)
    store.transition(snapshot.id, "PENDING_QA", actor="qa", artifacts=artifacts)
    store.transition(snapshot.id, "QA", actor="reviewer")
    return store.transition(snapshot.id, state, actor="reviewer")


def s3_destination(fmt: str = "CSV", **overrides: Any) -> dict[str, Any]:
    return {"slug": f"s3-{fmt.lower()}", "name": f"S3 {fmt}", "type": "S3", "connection": "aws_default",
            "format": fmt, "bucket": "prices-out", "path_template": "{project}/{collection}/:YYYY/:MM/:DD",
            "filename_template": "{flow}_{source}_{snapshot}.{ext}", "active": True, **overrides}


def sftp_destination(fmt: str = "CSV", **overrides: Any) -> dict[str, Any]:
    return {"slug": f"sftp-{fmt.lower()}", "name": f"SFTP {fmt}", "type": "SFTP", "connection": SFTP_CONN,
            "format": fmt, "directory": "/upload/prices", "path_template": ":YYYY/:ww",
            "filename_template": "{collection}_{date}_{source}_{chunk}.{ext}", "active": True, **overrides}


def push_operator(snapshots: Any, destinations: list[dict[str, Any]], **kwargs: Any):
    from airflow_provider_importio.operators.push import ImportioPushOperator

    kwargs.setdefault("blank_row_for_no_data", True)
    return ImportioPushOperator(task_id="push", snapshots=snapshots, destinations=destinations, fields=FIELDS,
                                project="shop", sftp_connect_attempts=1, **kwargs)


def assert_same_xlsx(actual: bytes | Path, expected: Path) -> None:
    """Two workbooks hold the same sheets, cell by cell (value and type)."""
    import io

    import openpyxl

    def cells(source: bytes | Path) -> dict[str, list[list[tuple[Any, str]]]]:
        book = openpyxl.load_workbook(io.BytesIO(source) if isinstance(source, bytes) else source)
        return {sheet.title: [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows()] for sheet in book}

    assert cells(actual) == cells(expected)
