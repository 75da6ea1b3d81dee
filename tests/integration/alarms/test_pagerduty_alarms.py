"""The alarm operator against the PagerDuty stand-in (TLS on loopback) and a SQLite store."""

from __future__ import annotations

import json

import pytest

from airflow_provider_importio.operators.alarms import ImportioAlarmOperator
from airflow_provider_importio.testing.pagerduty import PagerDutyEmulator

QA_KEY, OPS_KEY = "Q" * 32, "O" * 32
UI = "https://airflow.example"
PROJECT = """\
project: {slug: shop, name: Shop}
alarms:
  - {name: pending-qa, metric: snapshots.status.PENDING_QA, op: ">", threshold: 0}
  - {name: failed-pushes, metric: pushes.status.FAILED, op: ">", threshold: 0}
alarmGroups:
  - slug: qa
    name: QA failures
    alarms: [pending-qa]
    subscriptions: [{type: PAGERDUTY, connection: pagerduty_qa}]
  - slug: ops
    name: Operations
    alarms: [failed-pushes]
    subscriptions: [{type: PAGERDUTY, connection: pagerduty_ops}]
"""


@pytest.fixture
def pd():
    with PagerDutyEmulator(routing_keys={QA_KEY, OPS_KEY}) as emulator:
        yield emulator


@pytest.fixture
def env(pd, monkeypatch, tmp_path):
    for conn_id, key in (("pagerduty_qa", QA_KEY), ("pagerduty_ops", OPS_KEY)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
            {"conn_type": "pagerduty_events", "password": key, "host": pd.url, "extra": {"verify": pd.ca_file}}))
    monkeypatch.setenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", json.dumps(
        {"conn_type": "importio_store", "extra": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", UI)
    project_file = tmp_path / "shop.yaml"
    project_file.write_text(PROJECT)
    from airflow_provider_importio.hooks.store import ImportioStoreHook

    store = ImportioStoreHook().get_store()
    delivery = store.get_or_create_delivery("shop", "prod", "manual__1", dag_id="shop__prod")
    snapshot = store.get_or_create_snapshot(delivery.id, "products", "a", 0, actor="test").id
    store.transition(snapshot, "STARTED", actor="test")
    store.transition(snapshot, "PENDING_IMPORT", actor="test")
    return store, snapshot, str(project_file)


def evaluate(project_file: str, **kwargs) -> dict:
    return ImportioAlarmOperator(task_id="alarms", project_file=project_file, pagerduty_retries=3,
                                 pagerduty_retry_delay=0.01, **kwargs).execute({})


def trigger(value: float) -> dict:
    return {
        "event_action": "trigger",
        "routing_key": QA_KEY,
        "dedup_key": "importio/shop/qa",
        "payload": {
            "summary": f"[importio] shop: QA failures is in ALARM: pending-qa: snapshots.status.PENDING_QA = {value:g} > 0",
            "severity": "error", "source": "importio/shop", "group": "shop", "component": "qa",
            "class": "importio-alarm",
            "custom_details": {"project": "shop", "group": "qa", "state": "ALARM", "failing": [
                {"alarm": "pending-qa", "metric": "snapshots.status.PENDING_QA", "op": ">", "threshold": 0.0,
                 "value": value, "scope": "shop"}]},
        },
        "links": [{"href": f"{UI}/dags/shop__prod/runs/manual__1", "text": "Delivery prod manual__1"}],
    }


RESOLVE = {
    "event_action": "resolve",
    "routing_key": QA_KEY,
    "dedup_key": "importio/shop/qa",
    "payload": {"summary": "[importio] shop: QA failures is OK again", "severity": "info", "source": "importio/shop",
                "group": "shop", "component": "qa", "class": "importio-alarm",
                "custom_details": {"project": "shop", "group": "qa", "state": "OK", "failing": []}},
    "links": [{"href": f"{UI}/dags/shop__prod/runs/manual__1", "text": "Delivery prod manual__1"}],
}


def test_trigger_then_resolve_with_the_same_dedup_key(env, pd):
    store, snapshot, project_file = env
    assert evaluate(project_file)["qa"]["state"] == "OK" and pd.events == []  # starting OK tells nobody
    store.transition(snapshot, "PENDING_QA", actor="test")
    result = evaluate(project_file)
    assert result["qa"] == {"state": "ALARM", "sent": ["pagerduty_qa"], "failing": [
        {"alarm": "pending-qa", "metric": "snapshots.status.PENDING_QA", "op": ">", "threshold": 0.0,
         "value": 1.0, "scope": "shop"}]}
    assert pd.events == [trigger(1.0)]
    assert evaluate(project_file)["qa"]["sent"] == [] and len(pd.events) == 1  # unchanged: nothing sent
    store.transition(snapshot, "QA", actor="test")
    evaluate(project_file)
    assert pd.events == [trigger(1.0), RESOLVE]
    assert pd.alerts == {"importio/shop/qa": "resolved"}
    state = store.alarm_state("shop/qa")
    assert state.state == "OK" and state.details["notified"] == {"pagerduty_qa": "OK"}
    assert [(h["from"], h["to"]) for h in state.details["history"]] == [(None, "OK"), ("OK", "ALARM"), ("ALARM", "OK")]


def test_groups_notify_their_own_subscriptions(env, pd):
    store, snapshot, project_file = env
    store.record_push(snapshot, "bucket", "FAILED", actor="test")
    result = evaluate(project_file)
    assert result["ops"]["state"] == "ALARM" and result["qa"]["state"] == "OK"
    (event,) = pd.events
    assert event["routing_key"] == OPS_KEY and event["dedup_key"] == "importio/shop/ops"
    assert event["payload"]["summary"] == ("[importio] shop: Operations is in ALARM: "
                                           "failed-pushes: pushes.status.FAILED = 1 > 0")


def test_flapping_opens_and_resolves_once_per_transition(env, pd):
    store, snapshot, project_file = env
    store.transition(snapshot, "PENDING_QA", actor="test")
    evaluate(project_file)
    evaluate(project_file)
    store.transition(snapshot, "QA", actor="test")
    evaluate(project_file)
    evaluate(project_file)
    # a second snapshot flaps the group again
    delivery = store.find_delivery("shop", "prod", "manual__1")
    second = store.get_or_create_snapshot(delivery.id, "products", "b", 0, actor="test").id
    for state in ("STARTED", "PENDING_IMPORT", "PENDING_QA"):
        store.transition(second, state, actor="test")
    evaluate(project_file)
    store.transition(second, "QA", actor="test")
    evaluate(project_file)
    assert [(e["event_action"], e["dedup_key"]) for e in pd.events] == [
        ("trigger", "importio/shop/qa"), ("resolve", "importio/shop/qa")] * 2
    assert pd.request_count("POST", "/v2/enqueue") == 4


def test_a_5xx_outage_is_retried(env, pd):
    store, snapshot, project_file = env
    store.transition(snapshot, "PENDING_QA", actor="test")
    pd.faults.script("503", "500", "drop")
    evaluate(project_file)
    assert pd.events == [trigger(1.0)]
    assert [r.fault for r in pd.requests] == ["503", "500", "drop", None]


def test_an_outage_longer_than_the_retries_fails_the_task_and_the_next_run_sends_it(env, pd):
    from airflow.sdk.exceptions import AirflowException

    store, snapshot, project_file = env
    store.transition(snapshot, "PENDING_QA", actor="test")
    pd.faults.script("503", "503", "503", "503")
    with pytest.raises(AirflowException, match="stay pending"):
        evaluate(project_file)
    assert pd.events == [] and pd.request_count("POST", "/v2/enqueue") == 4
    assert store.alarm_state("shop/qa").state == "ALARM"
    assert store.alarm_state("shop/qa").details["notified"] == {}
    assert evaluate(project_file)["qa"]["sent"] == ["pagerduty_qa"]  # the pending transition, not a new one
    assert evaluate(project_file)["qa"]["sent"] == []
    assert pd.events == [trigger(1.0)]


def test_a_state_that_flips_back_before_it_was_told_sends_nothing(env, pd):
    from airflow.sdk.exceptions import AirflowException

    store, snapshot, project_file = env
    store.transition(snapshot, "PENDING_QA", actor="test")
    pd.faults.script("503", "503", "503", "503")
    with pytest.raises(AirflowException):
        evaluate(project_file)
    store.transition(snapshot, "QA", actor="test")
    evaluate(project_file)
    assert pd.events == []


def test_a_malformed_event_is_refused_with_400(pd):
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=pd.ca_file)
    response = httpx.post(f"{pd.url}/v2/enqueue", json={"event_action": "trigger", "routing_key": QA_KEY,
                                                        "payload": {"summary": "x"}}, verify=trust)
    assert response.status_code == 400 and response.json()["status"] == "invalid event"
    assert response.json()["errors"] == ["'payload.source' is missing or blank",
                                         "'payload.severity' must be one of critical, error, warning, info"]
    ok = httpx.post(f"{pd.url}/v2/enqueue", json={"event_action": "resolve", "routing_key": QA_KEY,
                                                  "dedup_key": "k"}, verify=trust)
    assert ok.status_code == 202 and ok.json() == {"status": "success", "message": "Event processed",
                                                   "dedup_key": "k"}


def test_the_alarm_dag(env):
    from airflow_provider_importio.flows.alarm_dag import alarm_dag

    _, _, project_file = env
    namespace: dict = {}
    dag = alarm_dag(__file__, project_file, namespace)
    assert namespace == {"shop__alarms": dag}
    assert dag.max_active_runs == 1 and dag.catchup is False and "QA failures" in dag.doc_md
    (task,) = dag.tasks
    assert isinstance(task, ImportioAlarmOperator) and task.project_file == project_file
