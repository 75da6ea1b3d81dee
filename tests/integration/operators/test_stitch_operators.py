"""Stitch operators against the Stitch emulator, moto's S3 and Secrets Manager, and Airflow's secrets backends."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat

import pytest

from airflow_provider_importio.clients.errors import BadRequestError
from airflow_provider_importio.hooks.object_source import SourceNotFoundError
from airflow_provider_importio.operators.stitch import StitchCreateImportSourceOperator, StitchPushOperator
from airflow_provider_importio.workbench.record_files import RecordFileError

ANCHOR = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc)
ROW_SCHEMA = {
    "type": "object",
    "required": ["sku"],
    "properties": {
        "sku": {"type": "string", "pattern": "^SKU"},
        "name": {"type": "string", "minLength": 1},
        "price": {"type": "number", "minimum": 0},
        "in_stock": {"type": "boolean"},
        "seen": {"type": "integer"},
    },
}


def rows(n: int, price_bump: float = 0.0) -> list[dict]:
    return [{"sku": f"SKU{i:05d}", "name": f"Product {i}", "price": i + 0.25 + price_bump, "in_stock": i % 3 == 0,
             "seen": i, "_url": f"https://shop.example/p/{i}"} for i in range(n)]


@pytest.fixture
def connect_conn(stitch_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_CONNECT_DEFAULT", json.dumps(
        {"conn_type": "stitch_connect", "host": stitch_emulator.url, "password": stitch_emulator.connect_token,
         "extra": {"max_retries": 2, "backoff_base": 0.01}}))


def create_op(store: str, **kwargs) -> StitchCreateImportSourceOperator:
    return StitchCreateImportSourceOperator(
        task_id="create_source", display_name="Import.io Products", import_conn_id="stitch_import_products",
        connection_store=store, **kwargs)


def use_stored(monkeypatch, connection: dict, conn_id: str = "stitch_import_products") -> None:
    extra = json.loads(connection["extra"]) if isinstance(connection["extra"], str) else connection["extra"]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                       json.dumps({**connection, "extra": {**extra, "max_retries": 3, "backoff_base": 0.01}}))


def token_ids(stitch, source_id):
    from airflow_provider_importio.clients.stitch import StitchConnectClient

    return StitchConnectClient(stitch.connect_token, stitch.url).list_import_token_ids(source_id)


def test_create_source_stores_a_token_airflow_can_read_and_a_rerun_creates_nothing(
        stitch_emulator, connect_conn, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "secrets" / "connections.json"
    op = create_op(f"file://{path}", import_host=stitch_emulator.url)
    first = op.execute({})
    assert first["created_source"] and first["created_token"] and first["source_name"] == "import_io_products"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    from airflow.secrets.local_filesystem import LocalFilesystemBackend

    conn = LocalFilesystemBackend(connections_file_path=str(path)).get_connection("stitch_import_products")
    assert conn.conn_type == "stitch_import" and conn.host == stitch_emulator.url
    assert conn.extra_dejson["source_id"] == first["source_id"] and conn.extra_dejson["token_id"] == first["token_id"]
    token = conn.password

    second = op.execute({})
    assert not second["created_source"] and not second["created_token"] and second["token_id"] == first["token_id"]
    assert [s["display_name"] for s in stitch_emulator.sources()] == ["Import.io Products"]
    assert token_ids(stitch_emulator, first["source_id"]) == [first["token_id"]]
    assert json.loads(path.read_text())["stitch_import_products"]["password"] == token

    # The stored connection pushes.
    use_stored(monkeypatch, json.loads(path.read_text())["stitch_import_products"])
    src = tmp_path / "rows.ndjson"
    src.write_text("\n".join(json.dumps(r) for r in rows(3)))
    StitchPushOperator(task_id="push", source=str(src), table="products", schema=ROW_SCHEMA, key_names=["sku"],
                       stitch_import_conn_id="stitch_import_products", sequence_anchor=ANCHOR).execute({})
    stitch_emulator.wait_loaded()
    assert len(stitch_emulator.rows("import_io_products", "products")) == 3

    texts = [r.getMessage() for r in caplog.records] + [json.dumps(first), json.dumps(second)]
    assert token and not [t for t in texts if token in t]


def test_secrets_manager_store_is_read_by_airflows_backend(stitch_emulator, connect_conn, moto_server):
    result = create_op("aws-secrets-manager://aws_default?prefix=airflow/connections").execute({})
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    backend = SecretsManagerBackend(connections_prefix="airflow/connections", endpoint_url=moto_server.url,
                                    region_name="us-east-1")
    conn = backend.get_connection("stitch_import_products")
    assert conn is not None and conn.conn_type == "stitch_import" and conn.password
    assert conn.extra_dejson["token_id"] == result["token_id"] and conn.extra_dejson["region"] == "north-america"
    again = create_op("aws-secrets-manager://aws_default?prefix=airflow/connections").execute({})
    assert not again["created_token"]
    names = [s["Name"] for s in moto_server.client("secretsmanager").list_secrets()["SecretList"]]
    assert names == ["airflow/connections/stitch_import_products"]


def test_revoked_stored_token_is_replaced_and_paused_source_unpaused(stitch_emulator, connect_conn, tmp_path):
    path = tmp_path / "connections.json"
    first = create_op(f"file://{path}").execute({})
    old_token = json.loads(path.read_text())["stitch_import_products"]["password"]
    stitch_emulator.revoke_import_token(old_token)
    from airflow_provider_importio.clients.stitch import StitchConnectClient

    StitchConnectClient(stitch_emulator.connect_token, stitch_emulator.url).pause_source(first["source_id"])
    second = create_op(f"file://{path}").execute({})
    assert second["created_token"] and second["token_id"] != first["token_id"]
    assert json.loads(path.read_text())["stitch_import_products"]["password"] != old_token
    assert stitch_emulator.source(first["source_id"])["paused_at"] is None


def test_two_foreign_tokens_is_a_clear_error_and_creates_nothing(stitch_emulator, connect_conn, tmp_path):
    source = stitch_emulator.add_source(display_name="Import.io Products")
    stitch_emulator.add_import_token(source["id"])
    stitch_emulator.add_import_token(source["id"])
    before = token_ids(stitch_emulator, source["id"])
    with pytest.raises(RuntimeError, match=r"already has 2 active Import API tokens .* revoke one"):
        create_op(f"file://{tmp_path / 'c.json'}").execute({})
    assert token_ids(stitch_emulator, source["id"]) == before
    assert not (tmp_path / "c.json").exists()


def test_a_token_that_cannot_be_stored_is_revoked(stitch_emulator, connect_conn, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OSError):
        create_op(f"file://{blocker / 'connections.json'}").execute({})
    (source,) = stitch_emulator.sources()
    assert token_ids(stitch_emulator, source["id"]) == []


@pytest.fixture
def import_conn(stitch_emulator, monkeypatch):
    source = stitch_emulator.add_source(display_name="Import.io Products")
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_IMPORT_DEFAULT", json.dumps(
        {"conn_type": "stitch_import", "host": stitch_emulator.url,
         "password": stitch_emulator.add_import_token(source["id"]), "extra": {"max_retries": 3, "backoff_base": 0.01}}))


def test_push_from_s3_ndjson_types_columns_and_a_rerun_leaves_the_same_warehouse(stitch_emulator, import_conn, moto_server):
    s3 = moto_server.client()
    s3.create_bucket(Bucket="deliveries")
    s3.put_object(Bucket="deliveries", Key="snap/rows.ndjson", Body="\n".join(json.dumps(r) for r in rows(120)).encode())
    op = StitchPushOperator(task_id="push", source="s3://deliveries/snap/rows.ndjson", table="products",
                            schema=ROW_SCHEMA, key_names=["sku"], max_batch_bytes=5_000)
    summary = op.execute({"logical_date": ANCHOR})
    assert summary["records"] == 120 and summary["batches"] > 1
    stitch_emulator.wait_loaded()
    first = stitch_emulator.rows("import_io_products", "products")
    columns = stitch_emulator.columns("import_io_products", "products")
    assert columns["price"].upper() in ("REAL", "DOUBLE", "FLOAT") and columns["seen"].upper().startswith("INT")
    assert [r["sku"] for r in first] == [f"SKU{i:05d}" for i in range(120)]
    assert first[7]["_sdc_sequence"] == int(ANCHOR.timestamp()) * 10**9 + 7

    op.execute({"logical_date": ANCHOR})
    stitch_emulator.wait_loaded()
    drop = lambda rs: [{k: v for k, v in r.items() if k not in ("_sdc_batched_at", "_sdc_received_at")} for r in rs]
    assert drop(stitch_emulator.rows("import_io_products", "products")) == drop(first)


def test_push_of_a_later_snapshot_wins_and_json_arrays_from_local_files(stitch_emulator, import_conn, tmp_path):
    early, late = tmp_path / "early.json", tmp_path / "late.json"
    early.write_text(json.dumps(rows(10)))
    late.write_text(json.dumps(rows(10, price_bump=100)))
    push = lambda path, anchor: StitchPushOperator(task_id="p", source=str(path), table="products", schema=ROW_SCHEMA,
                                                   key_names=["sku"], sequence_anchor=anchor).execute({})
    push(late, "2026-11-25T13:00:00Z")
    push(early, "2026-11-25T12:00:00Z")  # a late retry of the older snapshot must not win
    stitch_emulator.wait_loaded()
    assert [r["price"] for r in stitch_emulator.rows("import_io_products", "products")] == [i + 100.25 for i in range(10)]


def test_push_errors_are_clear(stitch_emulator, import_conn, moto_server, tmp_path):
    moto_server.client().create_bucket(Bucket="deliveries")
    with pytest.raises(SourceNotFoundError, match="s3://deliveries/missing.ndjson does not exist"):
        StitchPushOperator(task_id="p", source="s3://deliveries/missing.ndjson", table="t").execute({"logical_date": ANCHOR})
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(rows(1)[0]) + "\n{not json\n")
    with pytest.raises(RecordFileError, match="bad.ndjson: line 2 is not valid JSON"):
        StitchPushOperator(task_id="p", source=str(bad), table="t").execute({"logical_date": ANCHOR})
    wrong = tmp_path / "wrong.ndjson"
    wrong.write_text(json.dumps({**rows(1)[0], "price": "cheap"}))
    with pytest.raises(BadRequestError, match="table 'products'.*did not conform to schema"):
        StitchPushOperator(task_id="p", source=str(wrong), table="products", schema=ROW_SCHEMA,
                           key_names=["sku"]).execute({"logical_date": ANCHOR})
    with pytest.raises(ValueError, match="key field\\(s\\) 'id' are not properties"):
        StitchPushOperator(task_id="p", source=str(wrong), table="products", schema=ROW_SCHEMA,
                           key_names=["id"]).execute({"logical_date": ANCHOR})
