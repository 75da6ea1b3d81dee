"""Pushes to S3 (moto's server) through ``S3Hook``: golden files, stable keys, dry runs, states, records."""

from __future__ import annotations

import pytest

from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.integration.transfers.conftest import (
    GOLDEN,
    assert_same_xlsx,
    make_snapshot,
    push_operator,
    s3_destination,
)

FORMATS = ("JSON", "NDJSON", "CSV", "XLSX")
BUCKET = "prices-out"


@pytest.fixture
def s3(moto_server):
    client = moto_server.client()
    client.create_bucket(Bucket=BUCKET)
    return client


def keys(s3, prefix: str = "") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def body(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_each_format_matches_its_golden_file_and_is_recorded(store, s3):
    snapshot = make_snapshot(store)
    result = push_operator([{"snapshot_id": snapshot.id, "state": "PASSED_QA"}],
                           [s3_destination(fmt) for fmt in FORMATS]).execute({})

    prefix = f"shop/products/2027/01/01/staging_shop-a_{snapshot.id}"
    assert sorted(keys(s3)) == sorted(f"{prefix}.{fmt.lower()}" for fmt in FORMATS)
    for fmt in ("JSON", "NDJSON", "CSV"):
        assert body(s3, f"{prefix}.{fmt.lower()}") == (GOLDEN / f"snapshot.{fmt.lower()}").read_bytes(), fmt
    assert_same_xlsx(body(s3, f"{prefix}.xlsx"), GOLDEN / "snapshot.xlsx")
    assert s3.head_object(Bucket=BUCKET, Key=f"{prefix}.csv")["ContentType"] == "text/csv; charset=utf-8"

    assert {r["status"] for r in result} == {"PUSHED"} and {r["row_count"] for r in result} == {6}
    pushes = store.pushes(snapshot_id=snapshot.id)
    assert sorted((p.destination, p.status.value, p.uri) for p in pushes) == sorted(
        (f"s3-{fmt.lower()}", "PUSHED", f"s3://{BUCKET}/{prefix}.{fmt.lower()}") for fmt in FORMATS)
    csv_push = next(p for p in pushes if p.destination == "s3-csv")
    assert (csv_push.row_count, csv_push.byte_count) == (6, len((GOLDEN / "snapshot.csv").read_bytes()))
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED
    assert [h.to_state.value for h in store.history(snapshot.id)][-1] == "PUSHED"


def test_a_rerun_overwrites_the_same_key(store, s3, tmp_path):
    snapshot = make_snapshot(store)
    push_operator([snapshot.id], [s3_destination("NDJSON")]).execute({})
    (key,) = keys(s3)
    first = body(s3, key)

    again = push_operator([snapshot.id], [s3_destination("NDJSON")]).execute({})  # a plain re-run: nothing to do
    assert [r["status"] for r in again] == ["SKIPPED"] and again[0]["uri"] == f"s3://{BUCKET}/{key}"

    forced = push_operator([snapshot.id], [s3_destination("NDJSON")], repush=True).execute({})
    assert [r["status"] for r in forced] == ["PUSHED"] and forced[0]["uri"] == f"s3://{BUCKET}/{key}"
    assert keys(s3) == [key] and body(s3, key) == first
    assert [p.attempt for p in store.pushes(snapshot_id=snapshot.id, status="PUSHED")] == [1, 2]
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED


def test_an_inactive_destination_writes_nothing_and_records_a_dry_run(store, s3):
    snapshot = make_snapshot(store)
    result = push_operator([snapshot.id], [s3_destination("CSV", active=False)]).execute({})

    assert keys(s3) == []
    assert [r["status"] for r in result] == ["DRY_RUN"]
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert record.status.value == "DRY_RUN" and record.error is None
    assert record.uri == f"s3://{BUCKET}/shop/products/2027/01/01/staging_shop-a_{snapshot.id}.csv"
    assert (record.row_count, record.byte_count) == (6, len((GOLDEN / "snapshot.csv").read_bytes()))
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PASSED_QA  # nothing was pushed


def test_an_inactive_destination_declares_no_outlet():
    operator = push_operator([], [s3_destination("CSV"), s3_destination("JSON", active=False)])
    assert [o.name for o in operator.outlets] == ["importio-destination:shop/s3-csv"]


def test_pushed_ignore_stays_and_other_states_are_skipped(store, s3):
    ignored = make_snapshot(store, state="PUSHED_IGNORE", source="shop-a")
    failed = make_snapshot(store, state="FAILED_QA", source="shop-b")
    result = push_operator([ignored.id, failed.id], [s3_destination("JSON")]).execute({})

    assert [(r["snapshot_id"], r["status"]) for r in result] == [(ignored.id, "PUSHED")]
    assert keys(s3) == [f"shop/products/2027/01/01/staging_shop-a_{ignored.id}.json"]
    assert store.get_snapshot(ignored.id).state is SnapshotState.PUSHED_IGNORE
    assert store.get_snapshot(failed.id).state is SnapshotState.FAILED_QA and not store.pushes(snapshot_id=failed.id)


def test_a_failed_push_is_recorded_and_fails_the_task_after_the_others(store, s3):
    good = make_snapshot(store, source="shop-a")
    missing = make_snapshot(store, rows_uri=None, source="shop-b")
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="1 of 2 pushes failed") as failure:
        push_operator([good.id, missing.id], [s3_destination("CSV")]).execute({})
    assert "no rows file" in str(failure.value)
    assert store.get_snapshot(good.id).state is SnapshotState.PUSHED
    assert store.get_snapshot(missing.id).state is SnapshotState.PASSED_QA
    (record,) = store.pushes(snapshot_id=missing.id)
    assert record.status.value == "FAILED" and "artifacts['rows']" in record.error


def test_a_snapshot_waits_for_every_active_destination(store, s3):
    snapshot = make_snapshot(store)
    stitch = {"slug": "stitch-prices", "name": "Stitch", "type": "STITCH", "connection": "stitch_import_default",
              "format": "JSON", "active": True, "key_fields": ["name"]}
    with pytest.raises(Exception, match="stitch-prices: AirflowNotFoundException"):  # no such connection here
        push_operator([snapshot.id], [s3_destination("CSV"), stitch]).execute({})
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PASSED_QA  # Stitch has not had it yet
    assert {p.destination: p.status for p in store.pushes(snapshot_id=snapshot.id)} == {
        "s3-csv": "PUSHED", "stitch-prices": "FAILED"}

    store.record_push(snapshot.id, "stitch-prices", "PUSHED", actor="stitch", row_count=6)
    from airflow_provider_importio.transfers.destination_push import mark_pushed_when_complete

    moved = mark_pushed_when_complete(store, snapshot.id, ["s3-csv", "stitch-prices"], actor="stitch")
    assert moved.state is SnapshotState.PUSHED


def test_rows_in_s3_are_read_through_the_aws_connection(store, s3):
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="rows/snap.ndjson", Body=(GOLDEN / "snapshot-rows.ndjson").read_bytes())
    snapshot = make_snapshot(store, rows_uri="s3://artifacts/rows/snap.ndjson")
    push_operator([snapshot.id], [s3_destination("CSV")]).execute({})
    (key,) = keys(s3)
    assert body(s3, key) == (GOLDEN / "snapshot.csv").read_bytes()


def test_without_blank_rows_no_data_inputs_are_left_out(store, s3):
    snapshot = make_snapshot(store)
    result = push_operator([snapshot.id], [s3_destination("CSV")], blank_row_for_no_data=False).execute({})
    (key,) = keys(s3)
    assert body(s3, key) == (GOLDEN / "snapshot-no-blank-rows.csv").read_bytes()
    assert result[0]["row_count"] == 5


def test_a_superseded_snapshot_is_replaced_by_its_live_successor(store, s3):
    old = make_snapshot(store)
    new = store.supersede(old.id, actor="reviewer", reason="re-import", new_state="PENDING_IMPORT")
    store.transition(new.id, "PASSED_QA", actor="qa", artifacts={"rows": str(GOLDEN / "snapshot-rows.ndjson")})
    result = push_operator([{"snapshot_id": old.id}], [s3_destination("CSV")]).execute({})
    assert [(r["snapshot_id"], r["status"]) for r in result] == [(new.id, "PUSHED")]
    assert keys(s3) == [f"shop/products/2027/01/01/staging_shop-a_{new.id}.csv"]


def test_results_must_name_their_snapshot(store, s3):
    with pytest.raises(ValueError, match="without 'snapshot_id'"):
        push_operator([{"state": "PASSED_QA"}], [s3_destination("CSV")]).execute({})
