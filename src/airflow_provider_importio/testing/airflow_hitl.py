"""Answer Airflow human-in-the-loop tasks from a test or the demo, without an api-server.

``dag.test()`` never resolves a task parked in ``awaiting_input``: a response recorded in the
metadata database from outside resumes it. :func:`respond` records one exactly as the REST API's
``PATCH .../hitlDetails`` handler does (it calls that handler's function), so the same checks
apply: allowed options, a single choice, no second answer. :func:`wait_for_awaiting_input` finds
the parked tasks. Both need the Airflow environment (``AIRFLOW_HOME``, the database) of the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AwaitingTask:
    """A task instance parked for a human response, with what it asks."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: list[str]


def awaiting_input(dag_id: str | None = None) -> list[AwaitingTask]:
    """Task instances in ``awaiting_input`` with an unanswered request."""
    from sqlalchemy import select

    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        query = select(TaskInstance, HITLDetail).join(HITLDetail, HITLDetail.ti_id == TaskInstance.id).where(
            TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
        if dag_id:
            query = query.where(TaskInstance.dag_id == dag_id)
        found = []
        for ti, detail in session.execute(query).all():
            if detail.response_received:
                continue
            found.append(AwaitingTask(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, detail.subject,
                                      detail.body, list(detail.options or [])))
        return sorted(found, key=lambda t: (t.dag_id, t.run_id, t.task_id, t.map_index))


def wait_for_awaiting_input(dag_id: str | None = None, *, count: int = 1, timeout: float = 120.0,
                            poll: float = 0.5, stop: Any = None) -> list[AwaitingTask]:
    """Poll until at least ``count`` tasks await input (``stop()`` true ends the wait early)."""
    deadline = time.monotonic() + timeout
    while True:
        found = awaiting_input(dag_id)
        if len(found) >= count or (stop is not None and stop()):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} task(s) awaiting input after {timeout} s, expected {count}")
        time.sleep(poll)


def respond(task: AwaitingTask, chosen: str | list[str], *, user: str = "reviewer",
            params_input: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record ``user``'s answer through the REST API handler's own function; returns its response."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    payload = UpdateHITLDetailPayload(chosen_options=[chosen] if isinstance(chosen, str) else list(chosen),
                                      params_input=params_input or {})
    with create_session() as session:
        response = update_hitl_detail(
            dag_id=task.dag_id, dag_run_id=task.run_id, task_id=task.task_id,
            update_hitl_detail_payload=payload, user=SimpleAuthManagerUser(username=user, role="ADMIN"),
            session=session, map_index=task.map_index,
        )
        return response.model_dump(mode="json")


def answer(dag_id: str | None, rules: list[tuple[str, str]], *, default: str | None, count: int,
           timeout: float = 300.0, user: str = "reviewer") -> list[tuple[AwaitingTask, str]]:
    """Wait for ``count`` parked tasks and answer each: the choice of the first rule whose text is
    in the task's subject, else ``default``. Returns what was answered."""
    answered: list[tuple[AwaitingTask, str]] = []
    deadline = time.monotonic() + timeout
    while len(answered) < count:
        pending = awaiting_input(dag_id)
        if not pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"answered {len(answered)} of {count} review(s) before the {timeout} s timeout")
            time.sleep(0.5)
            continue
        for task in pending:
            choice = choose(task, rules, default)
            respond(task, choice, user=user)
            answered.append((task, choice))
    return answered


def awaiting_input_rest(api: Any, base_url: str, dag_id: str) -> list[AwaitingTask]:
    """Unanswered requests of ``dag_id``'s runs, from the public REST API (``api``: a logged-in
    ``requests.Session``, e.g. :meth:`.compose_local.LocalCompose.api`)."""
    answer = api.get(f"{base_url}/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
                     params={"response_received": "false", "limit": 100}, timeout=30)
    answer.raise_for_status()
    found = []
    for item in answer.json()["hitl_details"]:
        ti = item["task_instance"]
        if ti["state"] != "awaiting_input":
            continue
        found.append(AwaitingTask(ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"], item["subject"],
                                  item.get("body"), list(item.get("options") or [])))
    return sorted(found, key=lambda t: (t.run_id, t.task_id, t.map_index))


def respond_rest(api: Any, base_url: str, task: AwaitingTask, chosen: str) -> dict[str, Any]:
    """Answer as a person does in the UI: ``PATCH .../taskInstances/{task}/{map_index}/hitlDetails``."""
    answer = api.patch(f"{base_url}/api/v2/dags/{task.dag_id}/dagRuns/{task.run_id}/taskInstances/"
                       f"{task.task_id}/{task.map_index}/hitlDetails",
                       json={"chosen_options": [chosen], "params_input": {}}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def choose(task: AwaitingTask, rules: list[tuple[str, str]], default: str | None) -> str:
    """The choice of the first rule whose text is in the task's subject, else ``default``."""
    choice = next((c for text, c in rules if text in task.subject), default)
    if choice is None:
        raise LookupError(f"no rule answers {task.subject!r}")
    return choice


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_importio.testing.airflow_hitl --dag-id D --count 2 --rule "shop-b=Pass" --default Fail``"""
    import argparse

    parser = argparse.ArgumentParser(description="Answer Airflow human-in-the-loop tasks (tests, the demo).")
    parser.add_argument("--dag-id")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--rule", action="append", default=[], help="TEXT=CHOICE: answer CHOICE when TEXT is in the subject")
    parser.add_argument("--default")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--user", default="reviewer")
    args = parser.parse_args(argv)
    rules = [tuple(rule.split("=", 1)) for rule in args.rule]
    for task, choice in answer(args.dag_id, rules, default=args.default, count=args.count,  # type: ignore[arg-type]
                               timeout=args.timeout, user=args.user):
        print(f"ANSWERED {task.task_id}[{task.map_index}] {choice!r}: {task.subject}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
