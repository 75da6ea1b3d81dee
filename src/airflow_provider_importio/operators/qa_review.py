"""``ImportioQAReviewOperator``: a person decides what happens to a snapshot that failed QA.

A human-in-the-loop task (Airflow 3.1+) whose body shows the failing checks (value, baseline,
limit) and which offers the Workbench guide's choices. The responder is recorded as the assignee:
the snapshot first moves to QA (PENDING_QA or ESCALATED → QA, "assigned"), then to the verdict:

================  ======================================================================
choice            effect
================  ======================================================================
Pass              false alarm: QA → PASSED_QA; pushed with the delivery
Push anyway       QA → PUSHED_IGNORE: pushed, and kept out of future baselines
Re-import         the stored results go through QA again with the current schema and checks:
                  the old snapshot → SUPERCEDED, a new one (same crawl run) is checked now
Re-run            the chunk is collected again with the extractor's current configuration:
                  the old snapshot → SUPERCEDED, a new one START_PENDING; clear the chunk's
                  ``collect`` task (with downstream) to run it
Fail              QA → FAILED_QA: never pushed
================  ======================================================================

The review waits at most until shortly before the flow's push deadline (``T + pushHours``); then
Airflow applies ``timeout_choice`` (default **Fail**: nothing unreviewed is ever pushed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator

PASS, PUSH_ANYWAY, REIMPORT, RERUN, FAIL = "Pass", "Push anyway", "Re-import", "Re-run", "Fail"
CHOICES = (PASS, PUSH_ANYWAY, REIMPORT, RERUN, FAIL)
#: The review closes this long before the push deadline, leaving time to push.
PUSH_MARGIN = dt.timedelta(minutes=10)
MIN_WAIT = dt.timedelta(minutes=1)


class ImportioQAReviewOperator(HITLOperator):
    """Ask a person about one snapshot in PENDING_QA or ESCALATED (see the module docstring).

    :param snapshot: the QA result of the snapshot (``snapshot_id``, ``summary``, ``table_md``, ...).
    :param push_hours: the flow's ``pushHours``: the review ends before ``T + pushHours``.
    :param qa: arguments of the QA pass (``schema``, ``checks``, ``collection``, ``data_store``,
        ``aws_conn_id``) for a re-import.
    :param timeout_choice: what Airflow applies when nobody answers in time.
    """

    template_fields: Sequence[str] = (*HITLOperator.template_fields, "snapshot", "store_conn_id")

    def __init__(self, *, snapshot: Mapping[str, Any], push_hours: float, qa: Mapping[str, Any],
                 timeout_choice: str = FAIL, store_conn_id: str = "importio_store_default", **kwargs: Any) -> None:
        if timeout_choice not in CHOICES:
            raise ValueError(f"timeout_choice must be one of {', '.join(CHOICES)}")
        kwargs.setdefault("subject", "QA review")
        super().__init__(options=list(CHOICES), defaults=[timeout_choice], multiple=False, **kwargs)
        self.snapshot = snapshot
        self.push_hours = float(push_hours)
        self.qa = dict(qa)
        self.store_conn_id = store_conn_id

    def execute(self, context: Mapping[str, Any]) -> Any:
        snap = self.snapshot
        self.subject = (f"QA review: {snap.get('source')} chunk {snap.get('chunk')} is {snap.get('state')} "
                        f"({snap.get('summary') or 'checks failed'})")
        self.body = _body(snap)
        self.response_timeout = self._time_left(context)
        self.log.info("Waiting for a QA decision on snapshot %s until %s", snap.get("snapshot_id"),
                      (dt.datetime.now(dt.timezone.utc) + self.response_timeout).isoformat())
        return super().execute(context)  # type: ignore[arg-type]

    def execute_complete(self, context: Mapping[str, Any], event: dict[str, Any]) -> Any:
        answer = super().execute_complete(context, event)  # type: ignore[arg-type]
        chosen = answer["chosen_options"][0]
        user = answer.get("responded_by_user") or {}
        actor = f"user:{user.get('name') or user.get('id')}" if user else "timeout"
        return apply_choice(self, chosen, actor)

    def _time_left(self, context: Mapping[str, Any]) -> dt.timedelta:
        from airflow_provider_importio.operators.run_moment import run_start

        start = run_start(context)
        if start is None:
            return dt.timedelta(hours=self.push_hours)
        due = start + dt.timedelta(hours=self.push_hours) - PUSH_MARGIN
        left = due - dt.datetime.now(dt.timezone.utc)  # a pendulum Interval when start is Airflow's DateTime,
        # which the Task SDK cannot serialize when the task parks for input: keep a plain timedelta
        return max(MIN_WAIT, dt.timedelta(seconds=left.total_seconds()))


def apply_choice(op: ImportioQAReviewOperator, chosen: str, actor: str) -> dict[str, Any]:
    """Record the assignment and the verdict in the store; the snapshot's new state."""
    from airflow_provider_importio.hooks.store import ImportioStoreHook
    from airflow_provider_importio.operators.qa import QaSpec, qa_result, run_qa
    from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

    store = ImportioStoreHook(op.store_conn_id).get_store()
    snapshot = store.get_snapshot(str(op.snapshot["snapshot_id"]))
    if snapshot.state in (S.PENDING_QA, S.ESCALATED):
        snapshot = store.transition(snapshot.id, S.QA, actor=actor, reason="assigned for review")
    if snapshot.state is not S.QA:
        op.log.warning("Snapshot %s is %s, not in review any more; %r not applied", snapshot.id,
                       snapshot.state.value, chosen)
        return {**qa_result(snapshot, snapshot.options.get("qa") or {}), "choice": chosen, "by": actor}
    op.log.info("%s chose %r for snapshot %s", actor, chosen, snapshot.id)
    if chosen in (PASS, PUSH_ANYWAY, FAIL):
        target = {PASS: S.PASSED_QA, PUSH_ANYWAY: S.PUSHED_IGNORE, FAIL: S.FAILED_QA}[chosen]
        snapshot = store.transition(snapshot.id, target, actor=actor, reason=f"review: {chosen}")
        result = qa_result(snapshot, snapshot.options.get("qa") or {})
    elif chosen == REIMPORT:
        fresh = store.supersede(snapshot.id, actor=actor, reason="review: re-import",
                                new_state=S.PENDING_IMPORT, crawl_run_id=snapshot.crawl_run_id,
                                extractor_id=snapshot.extractor_id, input_count=snapshot.input_count,
                                row_count=snapshot.row_count, artifacts={"json": snapshot.artifacts.get("json")})
        spec = QaSpec(op.qa["schema"], op.qa["checks"], op.qa["collection"], bool(op.qa.get("data_store")),
                      op.qa.get("aws_conn_id"))
        result = run_qa(store, fresh, spec, actor=actor, log=op.log)
    else:  # RERUN
        fresh = store.supersede(snapshot.id, actor=actor, reason="review: re-run", new_state=S.START_PENDING,
                                extractor_id=snapshot.extractor_id)
        op.log.warning("Snapshot %s superseded by %s (START_PENDING): clear the collect task of source %s "
                       "chunk %s, with its downstream tasks, to collect it again", snapshot.id, fresh.id,
                       snapshot.source, snapshot.chunk)
        result = qa_result(fresh, {})
    return {**result, "choice": chosen, "by": actor}


def _body(snap: Mapping[str, Any]) -> str:
    lines = [
        f"Snapshot `{snap.get('snapshot_id')}` of source **{snap.get('source')}**, chunk {snap.get('chunk')}, "
        f"attempt {snap.get('attempt')}: **{snap.get('state')}**, {snap.get('rows')} rows.",
        "",
        snap.get("summary") or "",
        "",
        snap.get("table_md") or "",
        "",
        f"Rows: `{snap.get('rows_uri')}`",
        "",
        "**Pass**: false alarm, push it. **Push anyway**: push, keep it out of future baselines. "
        "**Re-import**: check the stored results again with the current schema and checks. "
        "**Re-run**: collect the chunk again (then clear its collect task). **Fail**: never push it.",
    ]
    return "\n".join(lines)
