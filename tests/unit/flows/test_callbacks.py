"""The default push-deadline callback names the delivery from the context the scheduler sends."""

from __future__ import annotations

import asyncio
import logging

from airflow_provider_importio.flows.callbacks import log_push_overdue


def test_the_warning_names_the_run_from_the_schedulers_dag_run_response(caplog):
    # Airflow 3.3's scheduler sends {"dag_run": DAGRunResponse.model_dump(mode="json"), "deadline": {...}}
    context = {"dag_run": {"dag_run_id": "manual__2026-11-25T23:21:45+00:00", "dag_id": "shop__staging"},
               "deadline": {"id": "d1", "deadline_time": "2026-11-26T01:21:45+00:00"}}
    with caplog.at_level(logging.WARNING):
        asyncio.run(log_push_overdue(project="shop", flow="staging", dag_id="shop__staging", push_hours=2,
                                     context=context))
    assert caplog.messages == ["Delivery manual__2026-11-25T23:21:45+00:00 of flow shop/staging "
                               "(DAG shop__staging) has not pushed 2 h after it started"]


def test_without_a_context_the_run_is_unknown(caplog):
    with caplog.at_level(logging.WARNING):
        asyncio.run(log_push_overdue(project="shop", flow="staging", dag_id="shop__staging", push_hours=2))
    assert caplog.messages[0].startswith("Delivery ? of flow shop/staging")
