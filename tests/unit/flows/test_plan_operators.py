"""The planning steps of a flow DAG, and the fast listing of cron ticks behind ``max_active_runs``."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from croniter import croniter

from airflow_provider_importio.flows.dag_factory import START_DATE, build_flow_dags, cron_ticks
from airflow_provider_importio.operators.plan import (
    ImportioPlanDeliveryOperator,
    ImportioPlanReviewsOperator,
    ImportioPlanRunsOperator,
)
from airflow_provider_importio.workbench.config_loader import load_project

EXAMPLE = Path(__file__).parents[2] / "resources" / "projects" / "example.yaml"
SOURCES = {"shop-a": {"slug": "shop-a", "extractor_id": "e-a"}, "shop-b": {"slug": "shop-b", "extractor_id": "e-b"}}
VARIABLES = {"project": "p", "collection": "c", "flow": "f", "bucketname": "b"}


def plan_delivery(per_source: bool) -> ImportioPlanDeliveryOperator:
    return ImportioPlanDeliveryOperator(task_id="plan_delivery", sources=SOURCES, per_source=per_source,
                                        base_variables=VARIABLES, staging_prefix="s3://a/staging/p/f")


def test_plan_delivery_one_pickup_per_source_or_one_for_all():
    context = {"params": {"sources": ["shop-b", "gone", "shop-a"]}, "run_id": "r1"}
    assert plan_delivery(True).execute(context) == [
        {"variables": {**VARIABLES, "source": "shop-b"}, "staging_uri": "s3://a/staging/p/f/r1/shop-b"},
        {"variables": {**VARIABLES, "source": "shop-a"}, "staging_uri": "s3://a/staging/p/f/r1/shop-a"},
    ]
    assert plan_delivery(False).execute(context) == [
        {"variables": {**VARIABLES, "source": ""}, "staging_uri": "s3://a/staging/p/f/r1/all"}]
    with pytest.raises(ValueError, match="no sources selected"):
        plan_delivery(False).execute({"params": {"sources": ["gone"]}, "run_id": "r1"})


def test_plan_runs_gives_each_source_the_chunks_of_its_pickup():
    groups = [{"variables": {"source": "shop-a"}}, {"variables": {"source": "shop-b"}}]
    pickups = [[{"n": 1}, {"n": 2}], [{"n": 3}]]
    context = {"params": {"sources": ["shop-a", "shop-b"]}}
    per_source = ImportioPlanRunsOperator(task_id="plan_runs", groups=groups, pickups=pickups, sources=SOURCES,
                                          per_source=True)
    assert per_source.execute(context) == [{"chunk": {"n": 1}, "source": SOURCES["shop-a"]},
                                           {"chunk": {"n": 2}, "source": SOURCES["shop-a"]},
                                           {"chunk": {"n": 3}, "source": SOURCES["shop-b"]}]
    for_all = ImportioPlanRunsOperator(task_id="plan_runs", groups=[{"variables": {"source": ""}}],
                                       pickups=[[{"n": 1}]], sources=SOURCES, per_source=False)
    assert for_all.execute(context) == [{"chunk": {"n": 1}, "source": SOURCES["shop-a"]},
                                        {"chunk": {"n": 1}, "source": SOURCES["shop-b"]}]


def test_plan_reviews_keeps_what_a_person_must_look_at():
    results = [{"state": "PASSED_QA"}, {"state": "PENDING_QA"}, {"state": "ESCALATED"}, {}]
    op = ImportioPlanReviewsOperator(task_id="plan_reviews", results=results)
    assert op.execute({}) == [{"state": "PENDING_QA"}, {"state": "ESCALATED"}]


def test_flow_dags_wire_the_plans_between_the_mapped_tasks():
    dag = build_flow_dags(load_project(EXAMPLE))["shop-prices__mystagingflow"]
    upstream = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}
    assert upstream["plan_delivery"] == set()
    assert upstream["pickup_inputs"] == {"plan_delivery"}
    assert upstream["plan_runs"] == {"plan_delivery", "pickup_inputs"}
    assert upstream["collect"] == {"plan_runs"}
    assert upstream["plan_reviews"] == {"qa"}
    assert upstream["qa_review"] == {"plan_reviews"}
    assert upstream["push"] == {"qa", "qa_review"}
    assert dag.get_task("plan_runs").template_fields == ("groups", "pickups")


def croniter_ticks(cron: str, count: int) -> list[datetime]:
    ticks = croniter(cron, START_DATE)
    return [ticks.get_next(datetime) for _ in range(count)]


@pytest.mark.parametrize("cron", ["0 0,12 * * *", "*/15 * * * *", "@daily", "@hourly", "@weekly", "0 9-17 * * mon-fri",
                                  "5 4 * * 7", "0 0 * * 5-7", "0 0 1 * *", "0 0 * jan *", "0 0 * * 1#2", "0 0 L * *"])
def test_cron_ticks_are_croniters(cron):
    assert cron_ticks(cron, 300) == croniter_ticks(cron, 300)


def test_cron_ticks_are_croniters_for_random_weekly_crons():
    rnd = random.Random(10)

    def field(low: int, high: int) -> str:
        a = rnd.randint(low, high)
        b = rnd.randint(a, high)
        return rnd.choice(["*", f"*/{rnd.randint(1, high)}", f"{a}-{b}", f"{a}-{b}/{rnd.randint(1, 5)}",
                           ",".join(str(rnd.randint(low, high)) for _ in range(rnd.randint(1, 4)))])

    for _ in range(300):
        cron = f"{field(0, 59)} {field(0, 23)} * * {field(0, 7)}"
        assert cron_ticks(cron, 100) == croniter_ticks(cron, 100), cron


class _CountingSequence(Sequence):
    """A sequence that records what it is asked, as Airflow's lazy XCom sequence would answer it."""

    def __init__(self, items):
        self._items, self.asked = list(items), []

    def __len__(self):
        return len(self._items)

    def __getitem__(self, key):
        self.asked.append(key)
        if isinstance(key, int) and key >= len(self._items):
            raise IndexError(key)  # Airflow: a 404, logged as an error in the task's log
        return self._items[key]


def test_a_mapped_output_is_read_whole_in_one_request():
    from airflow_provider_importio.operators.mapped_output import whole
    from airflow_provider_importio.operators.plan import ImportioPlanReviewsOperator

    results = _CountingSequence([{"state": "PASSED_QA"}, {"state": "ESCALATED"}, {"state": "PENDING_QA"}])
    op = ImportioPlanReviewsOperator(task_id="plan_reviews", results=results)
    assert op.execute({}) == [{"state": "ESCALATED"}, {"state": "PENDING_QA"}]
    assert results.asked == [slice(None, None, None)]  # one slice; never an index past the end
    assert whole([1]) == [1] and whole(None) is None and whole({"a": 1}) == {"a": 1}
