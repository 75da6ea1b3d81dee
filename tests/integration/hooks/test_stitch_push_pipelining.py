"""``push_records`` packs the next batch while one is in flight; errors still come out in push order."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_importio.clients.errors import BadRequestError
from airflow_provider_importio.clients.stitch_batching import BatchLimits, StitchRecordError, sequence_start_for
from airflow_provider_importio.hooks.stitch import StitchImportHook

SCHEMA = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
START = sequence_start_for(datetime(2026, 11, 23, tzinfo=timezone.utc))
TEN = BatchLimits(max_records=10)
BATCH_PATH = r"^/v2/import/batch$"


@pytest.fixture
def hook(stitch_emulator, monkeypatch) -> StitchImportHook:
    source = stitch_emulator.add_source(display_name="Pipelined")
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_PIPELINED", json.dumps({
        "conn_type": "stitch_import", "host": stitch_emulator.url,
        "password": stitch_emulator.add_import_token(source["id"]), "extra": {"max_retries": 2, "backoff_base": 0.01}}))
    return StitchImportHook("stitch_pipelined")


def rows(n: int, **broken: dict) -> list[dict]:
    return [{"id": i, "name": f"n{i}", **broken.get(f"r{i}", {})} for i in range(n)]


def test_every_batch_lands_in_order(stitch_emulator, hook):
    summary = hook.push_records("t", SCHEMA, ["id"], iter(rows(95)), sequence_start=START, limits=TEN)
    assert (summary.records, summary.batches) == (95, 10)
    stitch_emulator.wait_loaded()
    assert [b["records"] for b in stitch_emulator.batches] == [10] * 9 + [5]
    loaded = stitch_emulator.rows("pipelined", "t")
    assert [(r["id"], r["_sdc_sequence"]) for r in loaded] == [(i, START + i) for i in range(95)]


def test_a_bad_record_after_a_batch_in_flight_leaves_that_batch_accepted(stitch_emulator, hook):
    with pytest.raises(StitchRecordError, match="record 15: key property 'id' is missing or null"):
        hook.push_records("t", SCHEMA, ["id"], iter(rows(25, r15={"id": None})), sequence_start=START, limits=TEN)
    stitch_emulator.wait_loaded()
    assert [b["records"] for b in stitch_emulator.batches] == [10]
    assert len(stitch_emulator.rows("pipelined", "t")) == 10


def test_a_refused_batch_is_reported_before_a_bad_record_packed_after_it(stitch_emulator, hook):
    with pytest.raises(BadRequestError, match="records 0-9 for table 't'"):
        hook.push_records("t", SCHEMA, ["id"], iter(rows(25, r3={"name": 5}, r15={"id": None})),
                          sequence_start=START, limits=TEN)
    assert stitch_emulator.batches == [] and stitch_emulator.request_count("POST", BATCH_PATH) == 1


def test_a_refused_batch_stops_the_push(stitch_emulator, hook):
    with pytest.raises(BadRequestError, match="records 10-19 for table 't'"):
        hook.push_records("t", SCHEMA, ["id"], iter(rows(45, r12={"name": 5})), sequence_start=START, limits=TEN)
    assert stitch_emulator.request_count("POST", BATCH_PATH) == 2  # the batches after it were never sent
    assert [b["records"] for b in stitch_emulator.batches] == [10]
