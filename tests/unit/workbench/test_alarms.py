"""Alarm evaluation, comparisons, scopes and the project-file rules of alarms and alarm groups."""

from __future__ import annotations

import pytest

from airflow_provider_importio.workbench.alarm_metrics import METRIC_NAMES
from airflow_provider_importio.workbench.alarms import (
    ALARM,
    OK,
    Alarm,
    AlarmGroup,
    MetricScope,
    Subscription,
    evaluate_groups,
    required_scopes,
)
from airflow_provider_importio.workbench.config_errors import ConfigError
from airflow_provider_importio.workbench.config_loader import load_project, load_project_text

EXAMPLE = "tests/resources/projects/example.yaml"


@pytest.mark.parametrize(("op", "value", "breached"), [
    ("<", 0.9, True), ("<", 1.0, False), ("<=", 1.0, True), ("<=", 1.1, False), (">", 1.1, True),
    (">", 1.0, False), (">=", 1.0, True), (">=", 0.9, False), ("==", 1.0, True), ("==", 2.0, False),
])
def test_ops(op, value, breached):
    assert Alarm("a", "health.blockedPct", op, 1.0).breached(value) is breached


def test_a_bad_op_is_refused():
    with pytest.raises(ValueError, match="op must be one of"):
        Alarm("a", "health.blockedPct", "!=", 1.0)


def test_a_group_is_in_alarm_when_any_alarm_is_and_scopes_pick_their_metrics():
    alarms = [Alarm("pending", "snapshots.status.PENDING_QA", ">", 0),
              Alarm("late", "snapshots.afterEndByCount", ">", 2, flow="prod"),
              Alarm("blocked", "health.blockedPct", ">", 1, collection="products", flow="prod")]
    group = AlarmGroup("ops", "Ops", ("pending", "late", "blocked"), (Subscription("PAGERDUTY", "pd"),))
    assert required_scopes([group], alarms, "shop") == [
        MetricScope("shop"), MetricScope("shop", None, "prod"), MetricScope("shop", "products", "prod")]
    metrics = {MetricScope("shop"): {"snapshots.status.PENDING_QA": 0.0},
               MetricScope("shop", None, "prod"): {"snapshots.afterEndByCount": 3.0},
               MetricScope("shop", "products", "prod"): {"health.blockedPct": 0.5}}
    (ev,) = evaluate_groups([group], alarms, metrics, project="shop")
    assert ev.state == ALARM and ev.key == "shop/ops"
    assert [r.alarm.name for r in ev.failing] == ["late"]
    assert ev.failing[0].to_dict() == {"alarm": "late", "metric": "snapshots.afterEndByCount", "op": ">",
                                       "threshold": 2, "value": 3.0, "scope": "shop, flow prod"}
    metrics[MetricScope("shop", None, "prod")] = {"snapshots.afterEndByCount": 2.0}
    (ev,) = evaluate_groups([group], alarms, metrics, project="shop")
    assert ev.state == OK and ev.failing == ()


def test_a_missing_metric_or_alarm_is_a_key_error():
    group = AlarmGroup("g", "G", ("x",))
    with pytest.raises(KeyError, match="unknown alarm 'x'"):
        evaluate_groups([group], [], {}, project="p")
    with pytest.raises(KeyError, match="no value"):
        evaluate_groups([group], [Alarm("x", "health.errorPct", ">", 1)], {MetricScope("p"): {}}, project="p")


def test_every_state_has_a_status_metric():
    assert "snapshots.status.PUSHED_IGNORE" in METRIC_NAMES and "snapshots.status.START_FAILED" in METRIC_NAMES
    assert len(METRIC_NAMES) == len(set(METRIC_NAMES)) == 13 + 8


def test_the_example_loads_its_alarms_and_groups():
    project = load_project(EXAMPLE)
    assert [g.slug for g in project.alarm_groups] == ["qa", "operations"]
    assert project.alarm("late-push") == Alarm("late-push", "snapshots.afterDeliverByCount", ">", 0.0,
                                               collection="products", flow="myproductionflow")
    assert project.alarm_group("qa").subscriptions == (Subscription("PAGERDUTY", "pagerduty_qa"),)


def _errors(tail: str) -> list[tuple[str, str]]:
    text = open(EXAMPLE).read().split("\nalarms:\n")[0] + "\n" + tail
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "p.yaml")
    return caught.value.errors


def test_config_errors():
    errors = dict(_errors("""alarms:
  - name: a
    metric: health.blockPct
    op: ">"
    threshold: 1
  - name: b
    metric: health.blockedPct
    op: "=>"
    threshold: 1
  - name: c
    metric: health.collectedByPct
    op: "<"
    threshold: 150
    collection: nope
  - name: d
    metric: pushes.status.FAILED
    op: ">"
    threshold: 0
    collection: products-staging
    flow: myproductionflow
  - name: a
    metric: pushes.status.FAILED
    op: ">"
    threshold: 0
alarmGroups:
  - slug: g
    name: G
    alarms: [a, zz, a]
    subscriptions:
      - {type: PAGERDUTY, connection: pd}
      - {type: PAGERDUTY, connection: pd}
      - {type: EMAIL, connection: x}
  - slug: g
    name: G2
    alarms: []
"""))
    assert errors["alarms[0].metric"].startswith("unknown metric 'health.blockPct'; did you mean 'health.blockedPct'?")
    assert "is not a comparison" in errors["alarms[1].op"]
    assert "percentage" in errors["alarms[2].threshold"]
    assert errors["alarms[2].collection"].startswith("unknown collection 'nope'")
    assert "runs collection 'products'" in errors["alarms[3].flow"]
    assert "duplicate alarm slug 'a'" in errors["alarms[4].name"]
    assert errors["alarmGroups[0].alarms[1]"].startswith("unknown alarm 'zz'")
    assert errors["alarmGroups[0].alarms[2]"] == "alarm 'a' is listed twice"
    assert errors["alarmGroups[0].subscriptions[1].connection"] == "connection 'pd' is subscribed twice"
    assert "is not a subscription type" in errors["alarmGroups[0].subscriptions[2].type"]
    assert "duplicate alarm group slug 'g'" in errors["alarmGroups[1].slug"]
    assert errors["alarmGroups[1].alarms"].endswith("must name at least one alarm")


def test_an_alarm_watches_only_its_own_project():
    errors = dict(_errors("""alarms:
  - {name: a, metric: health.errorPct, op: ">", threshold: 1, project: other}
"""))
    assert errors == {"alarms[0].project": "alarms watch this file's project 'shop-prices', not 'other'"}
