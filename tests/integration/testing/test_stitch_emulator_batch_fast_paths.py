"""The Stitch emulator's fast paths (record type checks, data points, batch loading) answer as the
slow ones did, and it accepts batches shaped as target-stitch sends them (stitch-facts.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing import StitchEmulator
from airflow_provider_importio.testing.stitch_validation import batch_error, data_points

SCHEMA = {"properties": {"id": {"type": "integer"}, "n": {"type": ["null", "number"]}, "s": {"type": "string"},
                         "b": {"type": "boolean"}, "o": {"type": ["null", "object"]}}}


def body(*rows: dict[str, Any], schema: dict[str, Any] = SCHEMA, seq: int = 1) -> dict[str, Any]:
    return {"table_name": "t", "schema": schema, "key_names": ["id"],
            "messages": [{"action": "upsert", "sequence": seq + i, "data": row} for i, row in enumerate(rows)]}


@pytest.mark.parametrize(("row", "error"), [
    ({"id": 1, "n": 2, "s": "x", "b": False, "o": {"k": [1]}}, None),
    ({"id": 3.0}, None),  # an integral float is an integer
    ({"id": True}, "Record 0 did not conform to schema: #/id: expected: Integer, found: Boolean"),
    ({"id": 1, "n": True}, "Record 0 did not conform to schema: #/n: expected: [Null, Number], found: Boolean"),
    ({"id": 1, "b": 1}, "Record 0 did not conform to schema: #/b: expected: Boolean, found: Integer"),
    ({"id": 1, "s": None}, "Record 0 did not conform to schema: #/s: expected: String, found: Null"),
    ({"id": 1, "o": []}, "Record 0 did not conform to schema: #/o: expected: [Null, JSONObject], found: JSONArray"),
    ({"id": 1.5}, "Record 0 did not conform to schema: #/id: expected: Integer, found: BigDecimal"),
])
def test_record_type_checks(row: dict[str, Any], error: str | None) -> None:
    assert batch_error(body(row)) == error


def test_data_points_count_leaves_through_objects_and_lists() -> None:
    assert data_points({"a": 1, "b": None, "c": {"d": [1, 2, {"e": "x"}], "f": {}}, "g": True}) == 6
    assert data_points("x") == 1 and data_points([]) == 0


def test_a_batch_as_target_stitch_sends_it_is_loaded(stitch_emulator: StitchEmulator) -> None:
    """A Singer stream's schema (``type: object`` and all), 19-digit clock sequences, ``simplejson`` text."""
    source = stitch_emulator.add_source(display_name="Singer")
    token = stitch_emulator.add_import_token(source["id"])
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "price": {"type": ["null", "number"]},
                                               "at": {"type": ["null", "string"], "format": "date-time"}}}
    sequence = 1_764_115_200_000_000_000
    payload = {"table_name": "orders", "schema": schema, "key_names": ["id"], "messages": [
        {"action": "upsert", "data": {"id": 1, "price": 1.10, "at": "2026-11-25T12:00:00Z"}, "sequence": sequence},
        {"action": "upsert", "data": {"id": 2, "price": None, "at": None}, "sequence": sequence + 1},
        {"action": "upsert", "data": {"id": 1, "price": 2.20, "at": None}, "sequence": sequence + 2},
    ]}
    response = requests.post(f"{stitch_emulator.url}/v2/import/batch", data=json.dumps(payload), timeout=10,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (201, {"status": "OK", "message": "Batch Accepted!"})
    stitch_emulator.wait_loaded()
    rows = stitch_emulator.rows("singer", "orders")
    assert [(r["id"], r["price"], r["at"], r["_sdc_sequence"]) for r in rows] == [
        (1, 2.2, None, sequence + 2), (2, None, None, sequence + 1)]


def test_paused_loading_keeps_batches_pending_until_resumed(stitch_emulator: StitchEmulator) -> None:
    source = stitch_emulator.add_source(display_name="Paused loads")
    token = stitch_emulator.add_import_token(source["id"])
    post = lambda payload: requests.post(  # noqa: E731
        f"{stitch_emulator.url}/v2/import/batch", data=json.dumps(payload), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    stitch_emulator.pause_loading()
    assert post(body({"id": 1}, {"id": 2})).status_code == 201
    assert post(body({"id": 1, "s": "later"}, seq=5)).status_code == 201
    with pytest.raises(TimeoutError):
        stitch_emulator.wait_loaded(timeout=0.2)
    assert stitch_emulator.tables() == [] and [b["loaded"] for b in stitch_emulator.batches] == [False, False]
    stitch_emulator.resume_loading()
    stitch_emulator.wait_loaded(timeout=5)
    rows = stitch_emulator.rows("paused_loads", "t")
    assert [(r["id"], r["s"], r["_sdc_sequence"]) for r in rows] == [(1, "later", 5), (2, None, 2)]
