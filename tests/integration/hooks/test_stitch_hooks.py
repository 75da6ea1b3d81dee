"""Stitch hooks against the running Stitch emulator and its SQLite warehouse."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime, timezone

import pytest

from airflow_provider_importio.clients.errors import (
    ApiError,
    BadRequestError,
    UnauthorizedError,
)
from airflow_provider_importio.clients.stitch import InvalidRegionError, SourceInactiveError
from airflow_provider_importio.clients.stitch_batching import sequence_start_for
from airflow_provider_importio.hooks.stitch import StitchConnectHook, StitchImportHook

SCHEMA = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "price": {"type": "number"},
                         "in_stock": {"type": "boolean"}}}
START = sequence_start_for(datetime(2026, 11, 23, tzinfo=timezone.utc))


def set_conn(monkeypatch, conn_id, conn_type, url, token, **extra):
    extra = {"max_retries": 4, "backoff_base": 0.01, **extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}",
                       json.dumps({"conn_type": conn_type, "host": url, "password": token, "extra": extra}))


@pytest.fixture
def stitch(stitch_emulator):
    return stitch_emulator


@pytest.fixture
def source(stitch):
    return stitch.add_source(display_name="Import.io Products")


@pytest.fixture
def import_hook(stitch, source, monkeypatch) -> StitchImportHook:
    set_conn(monkeypatch, "stitch_import_test", "stitch_import", stitch.url, stitch.add_import_token(source["id"]))
    return StitchImportHook("stitch_import_test")


@pytest.fixture
def connect_hook(stitch, monkeypatch) -> StitchConnectHook:
    set_conn(monkeypatch, "stitch_connect_test", "stitch_connect", stitch.url, stitch.connect_token)
    return StitchConnectHook("stitch_connect_test")


def products(n):
    return ({"id": i, "name": f"Product {i}", "price": i + 0.5, "in_stock": i % 2 == 0} for i in range(n))


def test_records_land_typed_and_a_repeat_push_leaves_the_same_state(stitch, source, import_hook):
    summary = import_hook.push_records("products", SCHEMA, ["id"], products(50), sequence_start=START)
    assert (summary.records, summary.batches) == (50, 1)
    stitch.wait_loaded()
    first = stitch.rows("import_io_products", "products")
    assert [r["id"] for r in first] == list(range(50))
    assert first[3]["name"] == "Product 3" and first[3]["price"] == 3.5 and first[3]["_sdc_sequence"] == START + 3
    columns = stitch.columns("import_io_products", "products")
    assert columns["id"].upper().startswith("INT") and columns["price"].upper() in ("REAL", "DOUBLE", "FLOAT")

    import_hook.push_records("products", SCHEMA, ["id"], products(50), sequence_start=START)
    stitch.wait_loaded()
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("_sdc_batched_at", "_sdc_received_at")} for r in rows]
    assert strip(stitch.rows("import_io_products", "products")) == strip(first)


def test_25000_records_go_as_two_batches(stitch, import_hook):
    summary = import_hook.push_records("big", SCHEMA, ["id"], products(25_000), sequence_start=START)
    assert summary.batches >= 2 and summary.records == 25_000
    assert stitch.request_count("POST", r"^/v2/import/batch$") == summary.batches
    stitch.wait_loaded(timeout=60)
    assert len(stitch.rows("import_io_products", "big")) == 25_000


def test_413_429_and_503_are_survived_with_counted_requests(stitch, import_hook, monkeypatch):
    from airflow_provider_importio.testing import stitch_emulator as module

    monkeypatch.setattr(module, "MAX_BODY_BYTES", 4_000)  # a server limit below the client's batch size
    stitch.faults.script("429", "503", path=r"^/v2/import/batch$")
    padded = ({**r, "name": r["name"] + "x" * 400} for r in products(10))
    summary = import_hook.push_records("faulty", SCHEMA, ["id"], padded, sequence_start=START)
    assert summary.records == 10 and summary.splits == 1 and summary.batches == 2
    # 429, then 503, then a real 413 for the whole batch; then each half passes.
    assert stitch.request_count("POST", r"^/v2/import/batch$") == 5
    stitch.wait_loaded()
    assert [r["id"] for r in stitch.rows("import_io_products", "faulty")] == list(range(10))


def test_bad_schema_is_a_clear_400_naming_the_table(import_hook):
    bad = {"properties": {"id": {"type": "integer"}, "name": {"type": "integer"}}}
    with pytest.raises(BadRequestError) as err:
        import_hook.push_records("products", bad, ["id"], products(3), sequence_start=START)
    assert "table 'products'" in str(err.value) and "did not conform to schema" in str(err.value)


def test_paused_source_is_told_apart_from_a_bad_token(stitch, source, import_hook, connect_hook, monkeypatch):
    connect_hook.pause_source(source["id"])
    with pytest.raises(SourceInactiveError, match="Connection is not active"):
        import_hook.push_records("products", SCHEMA, ["id"], products(1), sequence_start=START)
    connect_hook.unpause_source(source["id"])
    set_conn(monkeypatch, "stitch_bad", "stitch_import", stitch.url, "not-a-token-xyz")
    with pytest.raises(UnauthorizedError) as err:
        StitchImportHook("stitch_bad").push_records("products", SCHEMA, ["id"], products(1), sequence_start=START)
    assert type(err.value) is UnauthorizedError and "Not Authorized" in str(err.value)
    assert stitch.request_count("POST", r"^/v2/import/batch$") == 2  # no retry on 401


def test_wrong_region_is_its_own_error(stitch, monkeypatch):
    elsewhere = stitch.add_source(display_name="EU source", region="europe")
    set_conn(monkeypatch, "stitch_eu", "stitch_import", stitch.url, stitch.add_import_token(elsewhere["id"]))
    with pytest.raises(InvalidRegionError):
        StitchImportHook("stitch_eu").push_records("t", SCHEMA, ["id"], products(1), sequence_start=START)


def test_revoked_token_fails_clearly(stitch, source, connect_hook, monkeypatch):
    token = connect_hook.create_import_token(source["id"])
    set_conn(monkeypatch, "stitch_revoked", "stitch_import", stitch.url, token.access_token)
    hook = StitchImportHook("stitch_revoked")
    hook.push_records("t", SCHEMA, ["id"], products(1), sequence_start=START)
    connect_hook.revoke_import_token(source["id"], token.id)
    with pytest.raises(UnauthorizedError, match="Not Authorized"):
        hook.push_records("t", SCHEMA, ["id"], products(1), sequence_start=START)


def test_connect_sources_and_tokens(connect_hook, stitch):
    card = connect_hook.get_source_type("import_api")
    assert card["type"] == "import_api"
    created = connect_hook.create_source("Import API Demo")
    assert created.name == "import_api_demo" and created.is_active
    assert connect_hook.find_source("Import API Demo") == created
    assert connect_hook.find_source("Nope") is None
    assert not connect_hook.pause_source(created.id).is_active
    assert connect_hook.unpause_source(created.id).is_active
    token = connect_hook.create_import_token(created.id)
    assert token.access_token and token.access_token not in repr(token)
    assert token.id in connect_hook.list_import_token_ids(created.id)
    assert connect_hook.delete_source(created.id).deleted_at
    assert connect_hook.find_source("Import API Demo") is None


def test_test_connection_for_both_hooks(import_hook, connect_hook, stitch, monkeypatch):
    assert import_hook.test_connection()[0]
    assert connect_hook.test_connection()[0]
    set_conn(monkeypatch, "stitch_bad_connect", "stitch_connect", stitch.url, "bad-connect-token")
    ok, message = StitchConnectHook("stitch_bad_connect").test_connection()
    assert not ok and "401" in message and "bad-connect-token" not in message


def test_tokens_never_leak(stitch, source, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    token = stitch.add_import_token(source["id"])
    set_conn(monkeypatch, "stitch_secret", "stitch_import", stitch.url, token, max_retries=1)
    hook = StitchImportHook("stitch_secret")
    hook.push_records("t", SCHEMA, ["id"], products(3), sequence_start=START)
    errors: list[ApiError] = []
    for fault in ("500", "503", "drop"):
        stitch.faults.script(fault, fault)
        with pytest.raises(ApiError) as err:
            hook.push_records("t", SCHEMA, ["id"], products(1), sequence_start=START)
        errors.append(err.value)
        stitch.faults.clear()
    texts = [repr(hook), repr(hook.transport)] + [r.getMessage() for r in caplog.records]
    for e in errors:
        texts += [str(e), repr(e), "".join(traceback.format_exception(e)), str(e.body)]
    texts += [json.dumps(r.__dict__ if hasattr(r, "__dict__") else r, default=str) for r in stitch.requests]
    assert [t for t in texts if token in t] == []


def test_a_30_mb_push_is_split_into_requests_under_20_mb(stitch, import_hook):
    from airflow_provider_importio.clients.stitch_batching import BatchLimits

    blob = "x" * 3_000
    records = ({"id": i, "name": blob} for i in range(10_000))  # about 30.5 MB serialised
    summary = import_hook.push_records("wide", SCHEMA, ["id"], records, sequence_start=START,
                                       limits=BatchLimits(max_bytes=20_000_000))
    assert summary.bytes > 30_000_000 and summary.batches == 2 and summary.splits == 0
    sizes = [r.body_bytes for r in stitch.requests if r.path == "/v2/import/batch"]
    assert len(sizes) == 2 and max(sizes) <= 20_000_000 and sum(sizes) == summary.bytes
    stitch.wait_loaded(timeout=60)
    assert len(stitch.rows("import_io_products", "wide")) == 10_000


def test_validate_answers_422_with_stitchs_reasons(import_hook, stitch):
    from airflow_provider_importio.clients.errors import UnprocessableEntityError

    good = {"client_id": stitch.client_id, "table_name": "t", "sequence": 1, "action": "upsert",
            "key_names": ["id"], "data": {"id": 1}}
    assert import_hook.validate([good])["message"] == "Batch is valid!"
    with pytest.raises(UnprocessableEntityError) as err:
        import_hook.validate([{**good, "sequence": "soon"}])
    assert err.value.status == 422 and "sequence" in str(err.value)
    assert stitch.request_count("POST", r"^/v2/import/validate$") == 2  # no retry on 422
