"""Alarm metrics from a SQLite store built through the store API on a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_importio.store.store import Store
from airflow_provider_importio.workbench.alarm_metrics import METRIC_NAMES, compute_metrics
from airflow_provider_importio.workbench.alarms import ALARM, OK, Alarm, AlarmGroup, MetricScope, evaluate_groups
from airflow_provider_importio.workbench.config_model import Flow, FlowDefinition

T = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)
# Two chunks: chunk 0 collected by T+1h, chunk 1 by T+2h; the push is due by T+4h.
FLOW = Flow(slug="prod", name="Prod", cron="0 0 * * *", data_hours=2, push_hours=4, close_hours=8,
            definition=FlowDefinition(collection_id="products", input_uri_template="s3://b/in.json", chunks=2,
                                      chunk_collect_hours=1))


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now

    def at(self, **delta: float) -> None:
        self.now = T + timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with Store.from_url(f"sqlite:///{tmp_path / 'store.db'}", clock=clock) as store:
        store.migrate()
        yield store


def move(store: Store, snapshot_id: str, *states: str) -> None:
    for state in states:
        store.transition(snapshot_id, state, actor="test")


def bad_delivery(store: Store, clock: Clock) -> None:
    """Late, blocked, failing: every alarm of ALARMS breached at T+5h."""
    clock.at(minutes=10)
    delivery = store.get_or_create_delivery("shop", "prod", "scheduled__1", dag_id="shop__prod", start=T)
    a = store.get_or_create_snapshot(delivery.id, "products", "a", 0, actor="test", input_count=100).id
    b = store.get_or_create_snapshot(delivery.id, "products", "b", 0, actor="test", input_count=50).id
    c = store.get_or_create_snapshot(delivery.id, "products", "a", 1, actor="test", input_count=300).id
    move(store, a, "STARTED")
    move(store, b, "STARTED")
    move(store, c, "STARTED")
    clock.at(minutes=50)  # chunk 0 of source a: collected on time
    move(store, a, "PENDING_IMPORT", "PENDING_QA")
    store.record_stats(a, {"total_inputs": 100, "blocked_pct": 2, "system_error_pct": 1, "missing_html_pct": 0,
                           "no_data_200_pct": 4})
    store.record_push(a, "bucket", "FAILED", actor="test", error="denied")
    clock.at(hours=2, minutes=30)  # chunk 1: collected half an hour after its collect-by
    move(store, c, "PENDING_IMPORT", "PASSED_QA")
    store.record_stats(c, {"total_inputs": 300, "blocked_pct": 0, "system_error_pct": 3, "missing_html_pct": 2,
                           "no_data_200_pct": 0})
    store.record_push(c, "bucket", "FAILED", actor="test")
    store.record_push(c, "bucket", "PUSHED", actor="test")
    move(store, c, "PUSHED")


def good_delivery(store: Store, clock: Clock) -> None:
    clock.at(minutes=5)
    delivery = store.get_or_create_delivery("shop", "prod", "scheduled__2", dag_id="shop__prod", start=T)
    for chunk in (0, 1):
        snap = store.get_or_create_snapshot(delivery.id, "products", "a", chunk, actor="test", input_count=10).id
        move(store, snap, "STARTED", "PENDING_IMPORT", "PASSED_QA")
        store.record_stats(snap, {"total_inputs": 10, "blocked_pct": 0, "system_error_pct": 0,
                                  "missing_html_pct": 0, "no_data_200_pct": 0})
        store.record_push(snap, "bucket", "PUSHED", actor="test")
        move(store, snap, "PUSHED")


def zeros(**values: float) -> dict[str, float]:
    return {name: 0.0 for name in METRIC_NAMES} | {"health.collectedByPct": 100.0} | values


def metrics(store: Store, **kwargs) -> dict[str, float]:
    return compute_metrics(store, now=T + timedelta(hours=5), window=timedelta(hours=24), flows=[FLOW], **kwargs)


#: One alarm per metric, each breached by the bad delivery and not by the good one.
ALARMS = [
    Alarm("pending-qa", "snapshots.status.PENDING_QA", ">", 0),
    Alarm("started", "snapshots.status.STARTED", ">=", 1),
    Alarm("failed-qa", "snapshots.status.FAILED_QA", "==", 0),  # inverted: FAILED_QA is 0 in both
    Alarm("failed-pushes", "pushes.status.FAILED", ">", 0),
    Alarm("late-collection", "snapshots.afterEndByCount", ">", 0),
    Alarm("late-push", "snapshots.afterDeliverByCount", ">", 1),
    Alarm("collected-on-time", "health.collectedByPct", "<", 95),
    Alarm("blocked", "health.blockedPct", ">", 0.4),
    Alarm("errors", "health.errorPct", ">", 1),
    Alarm("no-data-200", "health.noData200Pct", ">=", 1),
    Alarm("no-html", "health.noHtmlPct", ">", 1),
]


def test_a_bad_delivery_gives_exact_metrics_and_breaches_every_alarm(store, clock):
    bad_delivery(store, clock)
    assert metrics(store) == zeros(**{
        "snapshots.status.PENDING_QA": 1, "snapshots.status.STARTED": 1, "snapshots.status.PUSHED": 1,
        "pushes.status.FAILED": 1,                 # a's push failed; c's failed push was retried
        "snapshots.afterEndByCount": 1,            # b is still STARTED after T+1h
        "snapshots.afterDeliverByCount": 2,        # a and b are not pushed by T+4h
        "health.collectedByPct": 100 * 100 / 450,  # a on time; b (50 inputs) and c (300) late
        "health.blockedPct": 0.5,                  # (2·100 + 0·300) / 400
        "health.errorPct": 2.5,                    # (1·100 + 3·300) / 400
        "health.noHtmlPct": 1.5,                   # (0·100 + 2·300) / 400
        "health.noData200Pct": 1.0,                # (4·100 + 0·300) / 400
    })
    values = {MetricScope("shop"): metrics(store, project="shop")}
    for alarm in ALARMS:
        (ev,) = evaluate_groups([AlarmGroup("g", "G", (alarm.name,))], ALARMS, values, project="shop")
        assert ev.state == ALARM, alarm


def test_a_good_delivery_breaches_none_but_the_inverted_one(store, clock):
    good_delivery(store, clock)
    assert metrics(store) == zeros(**{"snapshots.status.PUSHED": 2})
    values = {MetricScope("shop"): metrics(store, project="shop")}
    states = {a.name: evaluate_groups([AlarmGroup("g", "G", (a.name,))], ALARMS, values, project="shop")[0].state
              for a in ALARMS}
    assert states == {a.name: (ALARM if a.name == "failed-qa" else OK) for a in ALARMS}


def test_the_window_and_the_scope_limit_the_snapshots(store, clock):
    bad_delivery(store, clock)
    later = compute_metrics(store, now=T + timedelta(hours=30), window=timedelta(hours=24), flows=[FLOW])
    assert later == zeros()
    assert metrics(store, flow="other") == zeros()
    assert metrics(store, collection="products", flow="prod", project="shop") == metrics(store)


def test_without_the_flow_deadlines_are_unknown(store, clock):
    bad_delivery(store, clock)
    values = compute_metrics(store, now=T + timedelta(hours=5), window=timedelta(hours=24))
    assert values["snapshots.afterEndByCount"] == values["snapshots.afterDeliverByCount"] == 0
    assert values["health.collectedByPct"] == 100.0


def test_a_superseded_run_leaves_the_live_counts(store, clock):
    clock.at(minutes=1)
    delivery = store.get_or_create_delivery("shop", "prod", "r", dag_id="shop__prod", start=T)
    snap = store.get_or_create_snapshot(delivery.id, "products", "a", 0, actor="test").id
    move(store, snap, "STARTED", "RUN_FAILED")
    assert metrics(store)["snapshots.afterEndByCount"] == 1
    clock.at(hours=1, minutes=30)
    store.supersede(snap, actor="test", reason="re-run")
    values = metrics(store)
    assert values["snapshots.status.SUPERCEDED"] == 1 and values["snapshots.status.START_PENDING"] == 1
    assert values["snapshots.afterEndByCount"] == 1  # the re-run is past the chunk's collect-by too
