"""The alarm DAG of a project: evaluate its alarm groups every few minutes.

A DAG file holds::

    from airflow_provider_importio.flows.alarm_dag import alarm_dag
    alarm_dag(__file__, "projects/acme.yaml", globals())

It builds ``<project>__alarms`` with one :class:`~airflow_provider_importio.operators.alarms.ImportioAlarmOperator`
(catchup off, one run at a time). A DAG author may use the operator in a DAG of their own instead.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_importio.workbench.alarm_metrics import DEFAULT_WINDOW
from airflow_provider_importio.workbench.config_model import Project

DEFAULT_SCHEDULE = "*/5 * * * *"
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)
DEFAULT_ARGS: dict[str, Any] = {"owner": "importio", "retries": 1, "retry_delay": timedelta(minutes=1)}


def alarm_dag_id(project: Project) -> str:
    return f"{project.slug}__alarms"


def alarm_dag(dag_file: str | Path, project_file: str | Path, namespace: MutableMapping[str, Any] | None = None,
              *, schedule: str = DEFAULT_SCHEDULE, window: timedelta = DEFAULT_WINDOW,
              store_conn_id: str = "importio_store_default", default_args: Mapping[str, Any] | None = None) -> DAG:
    """Load ``project_file`` (relative to ``dag_file``'s folder) and build its alarm DAG into ``namespace``."""
    from airflow_provider_importio.flows.project_cache import load_project  # the loader's, cached while unchanged

    path = Path(project_file)
    if not path.is_absolute():
        path = Path(dag_file).resolve().parent / path
    dag = build_alarm_dag(load_project(path), str(path), schedule=schedule, window=window,
                          store_conn_id=store_conn_id, default_args=default_args)
    if namespace is not None:
        namespace[dag.dag_id] = dag
    return dag


def build_alarm_dag(project: Project, project_file: str, *, schedule: str = DEFAULT_SCHEDULE,
                    window: timedelta = DEFAULT_WINDOW, store_conn_id: str = "importio_store_default",
                    default_args: Mapping[str, Any] | None = None) -> DAG:
    """The DAG ``<project>__alarms`` evaluating ``project``'s alarm groups on ``schedule``."""
    from airflow_provider_importio.operators.alarms import ImportioAlarmOperator

    with DAG(
        dag_id=alarm_dag_id(project),
        description=f"{project.name}: alarm groups (Import.io project {project.slug})",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=30),
        default_args={**DEFAULT_ARGS, **(default_args or {})},
        doc_md=alarm_doc(project, schedule, window),
        tags=["importio", f"project:{project.slug}", "alarms"],
    ) as dag:
        ImportioAlarmOperator(task_id="evaluate_alarms", project_file=project_file, window=window,
                              store_conn_id=store_conn_id)
    return dag


def alarm_doc(project: Project, schedule: str, window: timedelta) -> str:
    """The DAG's ``doc_md``: its groups, their alarms and subscriptions."""
    lines = [f"# {project.name}: alarms", "",
             f"Evaluates the alarm groups of `{project.slug}` on `{schedule}` over the last {window} of "
             "snapshots; a group is in ALARM when any of its alarms is. Transitions trigger or resolve a "
             "PagerDuty event (dedup key `importio/<project>/<group>`). See docs/alarms.md.", "",
             "| Group | Alarms | Subscriptions |", "| --- | --- | --- |"]
    for group in project.alarm_groups:
        alarms = "<br>".join(f"{name}: `{project.alarm(name).condition}`" for name in group.alarms)
        subs = ", ".join(f"{s.type} `{s.connection}`" for s in group.subscriptions) or "none"
        lines.append(f"| {group.name} (`{group.slug}`) | {alarms} | {subs} |")
    return "\n".join(lines)
