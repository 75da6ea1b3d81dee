"""A STITCH destination in the delivery push: rows upserted into the Stitch emulator's warehouse,
typed from the collection schema, recorded in the store; a re-push changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.integration.transfers.conftest import make_snapshot, push_operator

ROW_SCHEMA = {"type": "object", "properties": {"name": {"type": ["string", "null"]}, "price": {"type": ["number", "null"]},
                                               "sku": {"type": "string"}}}


@pytest.fixture
def rows_file(tmp_path):
    path = tmp_path / "rows.ndjson"
    rows = [{"sku": f"S{i}", "name": f"Product {i}", "price": i + 0.5, "_url": f"https://shop.example/p/{i}",
             "_valid": True, "_errors": [], "_status": 200} for i in range(5)]
    rows.insert(2, {"_url": "https://shop.example/nothing", "_no_data": True})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.fixture
def stitch_conn(stitch_emulator, monkeypatch):
    source = stitch_emulator.add_source(display_name="Shop Warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_SHOP", json.dumps(
        {"conn_type": "stitch_import", "host": stitch_emulator.url,
         "password": stitch_emulator.add_import_token(source["id"]), "extra": {"backoff_base": 0.01}}))
    return stitch_emulator


def stitch_destination(**overrides):
    return {"slug": "warehouse", "name": "Warehouse", "type": "STITCH", "connection": "stitch_shop",
            "format": "JSON", "table": "{project}-{collection}", "key_fields": ["sku"], "active": True, **overrides}


def test_stitch_destination_upserts_typed_rows_and_records_the_push(store, stitch_conn, rows_file):
    snapshot = make_snapshot(store, rows_file)
    results = push_operator([snapshot.id], [stitch_destination()], row_schema=ROW_SCHEMA).execute({})
    (result,) = results
    assert result["status"] == "PUSHED" and result["row_count"] == 5
    assert result["uri"] == "stitch://stitch_shop/shop_products"
    stitch_conn.wait_loaded()
    rows = stitch_conn.rows("shop_warehouse", "shop_products")
    assert [r["sku"] for r in rows] == [f"S{i}" for i in range(5)]
    assert rows[1]["price"] == 1.5 and rows[1]["_url"] == "https://shop.example/p/1"
    assert "_valid" not in rows[0] and "_errors" not in rows[0]
    assert stitch_conn.columns("shop_warehouse", "shop_products")["price"].upper() in ("REAL", "DOUBLE", "FLOAT")
    assert store.get_snapshot(snapshot.id).state.value == "PUSHED"
    (push,) = store.pushes(snapshot_id=snapshot.id)
    assert (push.destination, push.status, push.row_count) == ("warehouse", "PUSHED", 5)

    again = push_operator([snapshot.id], [stitch_destination()], row_schema=ROW_SCHEMA).execute({})
    assert again[0]["status"] == "SKIPPED"
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 1


def test_inactive_stitch_destination_only_counts(store, stitch_conn, rows_file):
    snapshot = make_snapshot(store, rows_file)
    (result,) = push_operator([snapshot.id], [stitch_destination(active=False)], row_schema=ROW_SCHEMA).execute({})
    assert result["status"] == "DRY_RUN" and result["row_count"] == 5
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 0


def test_a_row_without_its_key_fails_the_push_clearly(store, stitch_conn, tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps({"name": "no sku", "_url": "https://shop.example/x"}))
    snapshot = make_snapshot(store, bad)
    with pytest.raises(Exception, match="key property 'sku' is missing"):
        push_operator([snapshot.id], [stitch_destination()], row_schema=ROW_SCHEMA).execute({})
    (push,) = store.pushes(snapshot_id=snapshot.id)
    assert push.status == "FAILED" and "sku" in push.error
    assert store.get_snapshot(snapshot.id).state.value == "PASSED_QA"
