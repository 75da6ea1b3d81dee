"""The flow DAG factory builds DAGs from a project file with the flow's schedule and windows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_importio.flows.dag_factory import (
    DEFAULT_CALLBACK,
    build_flow_dags,
    flow_dags,
    overlapping_deliveries,
)
from airflow_provider_importio.workbench.config_errors import ConfigError
from airflow_provider_importio.workbench.config_loader import load_project

EXAMPLE = Path(__file__).parents[2] / "resources" / "projects" / "example.yaml"


@pytest.fixture(scope="module")
def dags():
    return build_flow_dags(load_project(EXAMPLE))


def test_one_dag_per_flow_with_schedule_timeout_deadline_and_pause(dags):
    staging, production = dags["shop-prices__mystagingflow"], dags["shop-prices__myproductionflow"]
    assert staging.timetable.expression == "0 0,12 * * *" and production.timetable.expression == "0 0 * * *"
    assert staging.dagrun_timeout == timedelta(hours=3) and production.dagrun_timeout == timedelta(hours=48)
    (alert,) = staging.deadline
    assert alert.interval == timedelta(hours=2) and alert.callback.path == DEFAULT_CALLBACK
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"  # manual runs have no logical date
    assert alert.callback.kwargs == {"project": "shop-prices", "flow": "mystagingflow",
                                     "dag_id": "shop-prices__mystagingflow", "push_hours": 2}
    assert production.deadline[0].interval == timedelta(hours=24)
    assert production.is_paused_upon_creation  # created inactive, as the guide says
    assert not staging.catchup


def test_max_active_runs_follows_the_overlap_of_deliveries(dags):
    assert dags["shop-prices__mystagingflow"].max_active_runs == 1  # every 12 h, open 3 h
    assert dags["shop-prices__myproductionflow"].max_active_runs == 2  # daily, open 48 h
    assert overlapping_deliveries("*/15 * * * *", 1) == 4
    assert overlapping_deliveries("0 0,12 * * *", 12) == 1
    assert overlapping_deliveries("0 0,12 * * *", 12.5) == 2


def test_params_override_input_chunks_and_sources(dags):
    params = dags["shop-prices__myproductionflow"].params
    assert params["chunks"] == 48 and params["input_uri"].startswith("s3://")
    sources = params.get_param("sources")
    assert sources.schema["items"]["enum"] == ["shop-a"]
    with pytest.raises(Exception):
        sources.resolve(["not-a-source"])
    assert params.get_param("chunks").resolve(4) == 4
    with pytest.raises(Exception):
        params.get_param("chunks").resolve(0)


def test_docs_show_readme_settings_and_windows(dags):
    doc = dags["shop-prices__myproductionflow"].doc_md
    assert "one every 14 min 2 s" in doc and "| pushHours | 24" in doc and "Daily product prices" in doc


def test_deadlines_can_be_switched_off_for_dag_test(monkeypatch):
    monkeypatch.setenv("IMPORTIO_FLOW_DEADLINES", "off")
    assert all(not d.deadline for d in build_flow_dags(load_project(EXAMPLE)).values())
    custom = build_flow_dags(load_project(EXAMPLE), deadlines=True, on_push_overdue="my_pkg.alerts.page_someone")
    assert {d.deadline[0].callback.path for d in custom.values()} == {"my_pkg.alerts.page_someone"}


def test_flow_dags_fills_the_namespace_and_bad_files_raise_config_errors(tmp_path):
    namespace: dict = {}
    flow_dags(EXAMPLE, EXAMPLE.name, namespace)
    assert set(namespace) == {"shop-prices__mystagingflow", "shop-prices__myproductionflow"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("pushHours: 2", "pushHours: 0.5"))
    with pytest.raises(ConfigError) as err:
        flow_dags(tmp_path / "dag.py", "broken.yaml", {})
    assert "broken.yaml" in str(err.value) and "pushHours" in str(err.value)


def test_dags_serialize_with_their_deadlines(dags):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dags.values():
        data = DagSerialization.to_dict(dag)
        assert data["dag"]["deadline"], dag.dag_id
        assert DagSerialization.from_dict(data).dag_id == dag.dag_id
    staging = DagSerialization.from_dict(DagSerialization.to_dict(dags["shop-prices__mystagingflow"]))
    assert type(staging.timetable).__name__ == "CronTriggerTimetable" and staging.timetable.summary == "0 0,12 * * *"


def test_poll_intervals_come_from_the_importio_config_section_unless_given(monkeypatch):
    def collect_intervals(dags):
        collect = dags["shop-prices__mystagingflow"].get_task("collect")
        return collect.partial_kwargs["poll_interval"], collect.partial_kwargs["lease_poll_interval"]

    monkeypatch.delenv("AIRFLOW__IMPORTIO__CRAWL_POLL_INTERVAL", raising=False)
    monkeypatch.delenv("AIRFLOW__IMPORTIO__LEASE_POLL_INTERVAL", raising=False)
    assert collect_intervals(build_flow_dags(load_project(EXAMPLE))) == (30.0, 15.0)
    monkeypatch.setenv("AIRFLOW__IMPORTIO__CRAWL_POLL_INTERVAL", "2.5")
    monkeypatch.setenv("AIRFLOW__IMPORTIO__LEASE_POLL_INTERVAL", "1")
    assert collect_intervals(build_flow_dags(load_project(EXAMPLE))) == (2.5, 1.0)
    assert collect_intervals(build_flow_dags(load_project(EXAMPLE), poll_interval=7)) == (7.0, 1.0)
