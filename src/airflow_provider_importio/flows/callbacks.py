"""Deadline-alert callbacks of flow DAGs (run by the triggerer, so they are coroutines)."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


async def log_push_overdue(*, project: str, flow: str, dag_id: str, push_hours: float,
                           context: dict[str, Any] | None = None) -> None:
    """The default push-deadline callback: a warning naming the delivery that has not pushed."""
    dag_run = (context or {}).get("dag_run") or {}
    if isinstance(dag_run, dict):  # the scheduler sends the REST API's DAGRunResponse: ``dag_run_id``
        run_id = dag_run.get("dag_run_id") or dag_run.get("run_id")
    else:
        run_id = getattr(dag_run, "run_id", None)
    log.warning("Delivery %s of flow %s/%s (DAG %s) has not pushed %s h after it started",
                run_id or "?", project, flow, dag_id, push_hours)
