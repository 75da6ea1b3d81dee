from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_importio.clients.stitch_batching import (
    MAX_BODY_BYTES,
    MAX_SEQUENCE,
    BatchLimits,
    StitchRecordError,
    batches,
    sequence_start_for,
)

SCHEMA = {"properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}


def records(n, pad=0):
    return ({"id": i, "name": f"n{i}" + "x" * pad} for i in range(n))


def test_25000_records_go_as_at_least_two_batches_in_order_with_valid_bodies():
    out = list(batches("t", SCHEMA, ["id"], records(25_000), 1000))
    assert len(out) >= 2 and all(b.count <= 20_000 for b in out)
    sequences = []
    for batch in out:
        body = json.loads(batch.body())
        assert body["table_name"] == "t" and body["key_names"] == ["id"] and body["schema"] == SCHEMA
        sequences += [m["sequence"] for m in body["messages"]]
        assert len(batch.body()) == batch.size()
    assert sequences == list(range(1000, 26_000))


def test_a_30mb_payload_is_split_under_20mb():
    out = list(batches("t", SCHEMA, ["id"], records(3_000, pad=10_000), 0, BatchLimits(max_bytes=MAX_BODY_BYTES)))
    total = sum(b.size() for b in out)
    assert total > 30_000_000
    assert len(out) >= 2 and all(b.size() <= MAX_BODY_BYTES for b in out)
    assert sum(b.count for b in out) == 3_000


def test_halves_keep_order_and_envelope():
    (batch,) = batches("t", SCHEMA, [], records(5), 0)
    left, right = batch.halves()
    assert (left.count, right.count, right.first_index) == (2, 3, 2)
    assert [m["data"]["id"] for h in (left, right) for m in json.loads(h.body())["messages"]] == [0, 1, 2, 3, 4]


def test_sequence_start_is_stable_and_orders_later_pushes_higher():
    early = sequence_start_for(datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert early == sequence_start_for(datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert sequence_start_for(datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc)) == early + 10**9
    assert early < MAX_SEQUENCE


@pytest.mark.parametrize(
    ("record", "keys", "message"),
    [
        ({"name": "x"}, ["id"], "key property 'id' is missing or null"),
        ({"id": None}, ["id"], "key property 'id' is missing or null"),
        ({"id": "k" * 256}, ["id"], "is 256 characters"),
        ({"id": 1, "many": list(range(10_001))}, ["id"], "data points"),
        ({"id": 1, "big": "x" * 200}, ["id"], "more than a batch may hold"),
    ],
)
def test_records_that_break_limits_name_table_and_index(record, keys, message):
    with pytest.raises(StitchRecordError, match=message) as err:
        list(batches("products", SCHEMA, keys, [{"id": 0}, record], 0, BatchLimits(max_bytes=300)))
    assert "table 'products', record 1" in str(err.value)


def test_sequence_overflow_is_refused():
    with pytest.raises(StitchRecordError, match="exceeds"):
        list(batches("t", SCHEMA, [], records(2), MAX_SEQUENCE))


def test_limits_are_bounded_by_stitch():
    with pytest.raises(ValueError):
        BatchLimits(max_bytes=MAX_BODY_BYTES + 1)
    with pytest.raises(ValueError):
        BatchLimits(max_records=20_001)
