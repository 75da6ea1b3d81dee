"""Window arithmetic: the guide's staging and production flows, one chunk, overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_importio.workbench.config import Flow, FlowDefinition, load_project
from airflow_provider_importio.workbench.windows import delivery_windows, format_duration
from tests.unit.workbench.helpers import EXAMPLE

T = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)
PROJECT = load_project(EXAMPLE)
STAGING = PROJECT.flow("mystagingflow")
PRODUCTION = PROJECT.flow("myproductionflow")


def test_staging_all_chunks_start_at_t() -> None:
    w = delivery_windows(STAGING, T)
    assert len(w.chunks) == 10
    assert [c.index for c in w.chunks] == list(range(10))
    assert all(c.start == T and c.collect_by == T + H for c in w.chunks)
    assert (w.start, w.data_end, w.push_due, w.close) == (T, T + H, T + 2 * H, T + 3 * H)
    assert w.describe().startswith("10 chunks, all starting at the delivery start, each collected within 1 h;")


def test_production_chunks_spread_over_eleven_hours() -> None:
    w = delivery_windows(PRODUCTION, T)
    assert len(w.chunks) == 48
    for i, chunk in enumerate(w.chunks):
        assert chunk.start == T + timedelta(hours=11) * i / 47
        assert chunk.collect_by == chunk.start + H
    assert w.chunks[-1].start == T + 11 * H and w.chunks[-1].collect_by == T + 12 * H
    assert w.chunk_interval is not None and abs(w.chunk_interval.total_seconds() - 11 * 3600 / 47) < 1e-5
    assert timedelta(minutes=14, seconds=2) < w.chunk_interval < timedelta(minutes=14, seconds=3)
    assert (w.data_end, w.push_due, w.close) == (T + 12 * H, T + 24 * H, T + 48 * H)
    assert w.describe() == ("48 chunks, one every 14 min 2 s, each collected within 1 h; collection ends 12 h after "
                            "the start, the push is due by 24 h and the delivery closes at 48 h.")


def test_override_to_one_chunk_starts_at_t() -> None:
    w = delivery_windows(PRODUCTION, T, chunks=1)
    assert [(c.index, c.start, c.collect_by) for c in w.chunks] == [(0, T, T + H)]
    assert w.chunk_interval is None
    assert w.describe().startswith("1 chunk, collected within 1 h;")


def test_override_chunk_count() -> None:
    w = delivery_windows(PRODUCTION, T, chunks=12)
    assert len(w.chunks) == 12 and w.chunks[1].start - T == timedelta(hours=1)  # 11 h / 11


def test_flow_without_inputs_has_one_chunk_over_data_hours() -> None:
    flow = replace(PRODUCTION, definition=FlowDefinition(collection_id="products"))
    w = delivery_windows(flow, T)
    assert [(c.start, c.collect_by) for c in w.chunks] == [(T, T + 12 * H)]
    with pytest.raises(ValueError, match="exactly one chunk"):
        delivery_windows(flow, T, chunks=4)
    assert delivery_windows(flow, T, chunks=1).chunks == w.chunks


def test_input_without_chunk_settings_is_one_chunk_over_data_hours() -> None:
    flow = Flow(slug="f", name="F", cron="0 * * * *", data_hours=2.5, push_hours=3, close_hours=4,
                definition=FlowDefinition(collection_id="c", input_uri_template="s3://b/in.json"))
    w = delivery_windows(flow, T)
    assert [(c.start, c.collect_by) for c in w.chunks] == [(T, T + timedelta(hours=2.5))]
    w4 = delivery_windows(flow, T, chunks=4)  # C defaults to D: all start at T
    assert all(c.start == T for c in w4.chunks)


def test_fractional_hours() -> None:
    flow = Flow(slug="f", name="F", cron="0 * * * *", data_hours=1.5, push_hours=1.75, close_hours=2,
                definition=FlowDefinition(collection_id="c", input_uri_template="s3://b/in.json", chunks=3,
                                          chunk_collect_hours=0.5))
    w = delivery_windows(flow, T)
    assert [c.start - T for c in w.chunks] == [timedelta(0), timedelta(minutes=30), timedelta(hours=1)]
    assert w.chunks[-1].collect_by == w.data_end == T + timedelta(hours=1.5)
    assert w.push_due == T + timedelta(minutes=105)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        delivery_windows(STAGING, datetime(2026, 1, 1))
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="≥ 1"):
            delivery_windows(STAGING, T, chunks=bad)


def test_elapsed_hours_across_a_dst_change() -> None:
    london = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/London"))  # clocks go forward at 01:00
    w = delivery_windows(PRODUCTION, london)
    assert w.data_end == london.astimezone(timezone.utc) + 12 * H
    assert w.data_end != london + 12 * H  # wall-clock arithmetic would lose the skipped hour
    assert w.start.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=842.55), "14 min 2 s"), (timedelta(hours=48), "48 h"), (timedelta(0), "0 s"),
    (timedelta(hours=1, seconds=5), "1 h 5 s"),
])
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
