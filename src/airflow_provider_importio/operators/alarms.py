"""``ImportioAlarmOperator``: evaluate a project's alarm groups and notify PagerDuty of transitions.

Thin glue over :mod:`~airflow_provider_importio.workbench.alarm_metrics` (metrics per scope),
:mod:`~airflow_provider_importio.workbench.alarms` (evaluation, recorded transitions) and the
PagerDuty provider's Events API v2 hook. See ``docs/alarms.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperator

from airflow_provider_importio.workbench.alarm_metrics import DEFAULT_WINDOW, compute_metrics
from airflow_provider_importio.workbench.alarms import (
    ALARM,
    AlarmTransition,
    GroupEvaluation,
    Subscription,
    evaluate_groups,
    mark_notified,
    required_scopes,
    transitions,
)

if TYPE_CHECKING:
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.config_model import Project

#: PagerDuty's limit on ``payload.summary``.
MAX_SUMMARY = 1024
DEFAULT_UI_URL = "http://localhost:8080"


def __getattr__(name: str) -> Any:
    """``ImportioPagerdutyEventsHook`` lives in :mod:`~airflow_provider_importio.hooks.pagerduty` (importing
    the PagerDuty provider only when it is used); still importable from here."""
    if name == "ImportioPagerdutyEventsHook":
        from airflow_provider_importio.hooks.pagerduty import ImportioPagerdutyEventsHook

        return ImportioPagerdutyEventsHook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dedup_key(evaluation: GroupEvaluation) -> str:
    """The PagerDuty dedup key of a group: stable, so resolve closes what trigger opened."""
    return f"importio/{evaluation.project}/{evaluation.group.slug}"


def event_for(transition: AlarmTransition, link: dict[str, str] | None) -> dict[str, Any]:
    """The keyword arguments of ``send_event`` for a transition."""
    ev = transition.evaluation
    if transition.state == ALARM:
        failing = "; ".join(r.describe() for r in ev.failing)
        summary = f"[importio] {ev.project}: {ev.group.name} is in ALARM: {failing}"
        severity = "error"
    else:
        summary = f"[importio] {ev.project}: {ev.group.name} is OK again"
        severity = "info"
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 3] + "..."
    return {
        "summary": summary, "severity": severity, "source": f"importio/{ev.project}", "action": transition.action,
        "dedup_key": dedup_key(ev), "group": ev.project, "component": ev.group.slug, "class_type": "importio-alarm",
        "custom_details": {"project": ev.project, "group": ev.group.slug, "state": ev.state,
                           "failing": [r.to_dict() for r in ev.failing]},
        "links": [link] if link else None,
    }


def _window(value: timedelta | float | int | str) -> timedelta:
    """A timedelta, or hours as a number or numeric string."""
    if isinstance(value, timedelta):
        return value
    return timedelta(hours=float(value))


class ImportioAlarmOperator(BaseOperator):
    """Evaluate the alarm groups of a project file and tell PagerDuty about their transitions.

    Computes the metrics (``docs/alarms.md``) over the last *window* for every scope the alarms
    use, records each group's state in the store, and for each subscription not yet told the
    group's state sends an Events API v2 ``trigger`` (into ALARM, severity ``error``) or
    ``resolve`` (out of it) with the dedup key ``importio/<project>/<group>``. A send that fails
    after its retries stays pending for the next evaluation, and the task fails.

    :param project_file: path of the project YAML file (templated).
    :param window: how far back to look: a timedelta or hours (templated as a number).
    :param store_conn_id: the store's connection.
    :param pagerduty_retries: retries of a 5xx or network error per event (default: the
        connection's ``retries`` extra, else 3).
    :param pagerduty_retry_delay: seconds before the first retry, doubling (default: the
        connection's ``retry_delay`` extra, else 2).
    """

    template_fields: Sequence[str] = ("project_file", "store_conn_id")
    ui_color = "#f5c6cb"

    def __init__(self, *, project_file: str, window: timedelta | float | str = DEFAULT_WINDOW,
                 store_conn_id: str = "importio_store_default", pagerduty_retries: int | None = None,
                 pagerduty_retry_delay: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_file = project_file
        self.window = window
        self.store_conn_id = store_conn_id
        self.pagerduty_retries = pagerduty_retries
        self.pagerduty_retry_delay = pagerduty_retry_delay

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_importio.hooks.store import ImportioStoreHook
        from airflow_provider_importio.workbench.config_loader import load_project

        project = load_project(self.project_file)
        if not project.alarm_groups:
            self.log.info("Project %s has no alarm groups: nothing to evaluate", project.slug)
            return {}
        store = ImportioStoreHook(self.store_conn_id).get_store()
        now = datetime.now(timezone.utc)
        window = _window(self.window)
        flows = {f.slug: f for f in project.flows}
        metrics = {
            scope: compute_metrics(store, now=now, window=window, project=scope.project,
                                   collection=scope.collection, flow=scope.flow, flows=flows)
            for scope in required_scopes(project.alarm_groups, project.alarms, project.slug)
        }
        evaluations = evaluate_groups(project.alarm_groups, project.alarms, metrics, project=project.slug)
        pending = transitions(store, evaluations, now=now)
        sent, failed = self._notify(store, project, pending)
        self.log.info("%s", summary_table(project.slug, window, evaluations, pending, sent, failed))
        if failed:
            from airflow.sdk.exceptions import AirflowException

            lines = "; ".join(f"{key} → {conn}: {error}" for key, conn, error in failed)
            raise AirflowException(f"{len(failed)} PagerDuty notification(s) failed and stay pending for the next "
                                   f"evaluation: {lines}")
        return {ev.group.slug: {"state": ev.state, "failing": [r.to_dict() for r in ev.failing],
                                "sent": [c for key, c in sent if key == ev.key]} for ev in evaluations}

    def _notify(self, store: Store, project: Project, pending: list[AlarmTransition]
                ) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
        sent: list[tuple[str, str]] = []
        failed: list[tuple[str, str, str]] = []
        for transition in pending:
            event = event_for(transition, delivery_link(store, project, transition.evaluation))
            for subscription in transition.pending:
                try:
                    self._send(subscription, event)
                except Exception as exc:  # noqa: BLE001 - any failure leaves the transition pending
                    self.log.error("PagerDuty %s of %s via %s failed: %s", transition.action,
                                   transition.evaluation.key, subscription.connection, exc)
                    failed.append((transition.evaluation.key, subscription.connection, str(exc)[:300]))
                    continue
                mark_notified(store, transition, subscription)
                sent.append((transition.evaluation.key, subscription.connection))
                self.log.info("PagerDuty %s of %s sent via %s (dedup key %s)", transition.action,
                              transition.evaluation.key, subscription.connection, event["dedup_key"])
        return sent, failed

    def _send(self, subscription: Subscription, event: dict[str, Any]) -> str:
        from airflow_provider_importio.hooks.pagerduty import ImportioPagerdutyEventsHook

        if subscription.type != "PAGERDUTY":
            raise ValueError(f"unsupported subscription type {subscription.type!r}")
        hook = ImportioPagerdutyEventsHook(pagerduty_events_conn_id=subscription.connection,
                                           retries=self.pagerduty_retries, retry_delay=self.pagerduty_retry_delay)
        return hook.send_event(**event)


def ui_base_url() -> str:
    """The Airflow UI's base URL (``[api] base_url``)."""
    try:
        from airflow.configuration import conf

        return (conf.get("api", "base_url", fallback=DEFAULT_UI_URL) or DEFAULT_UI_URL).rstrip("/")
    except Exception:  # noqa: BLE001 - a link is a nicety
        return DEFAULT_UI_URL


def delivery_link(store: Store, project: Project, evaluation: GroupEvaluation) -> dict[str, str] | None:
    """A link to the Airflow UI page of the newest delivery (DAG run) the group's failing alarms
    (all its alarms once it is OK) watch; ``None`` without deliveries."""
    results = evaluation.failing or evaluation.results
    flows = {r.alarm.flow for r in results}
    newest = None
    for flow in (None,) if None in flows else sorted(f for f in flows if f):
        for delivery in store.deliveries(project=project.slug, flow=flow)[:1]:
            if newest is None or delivery.created_at > newest.created_at:
                newest = delivery
    if newest is None:
        return None
    href = f"{ui_base_url()}/dags/{quote(newest.dag_id, safe='')}/runs/{quote(newest.run_id, safe='')}"
    return {"href": href, "text": f"Delivery {newest.flow} {newest.run_id}"}


def summary_table(project: str, window: timedelta, evaluations: list[GroupEvaluation],
                  pending: list[AlarmTransition], sent: list[tuple[str, str]],
                  failed: list[tuple[str, str, str]]) -> str:
    """A readable table of the groups, their states and their alarms' values."""
    moved = {t.evaluation.key: t for t in pending}
    lines = [f"Alarm groups of {project} (window {window}):",
             f"  {'GROUP':<24} {'STATE':<6} {'CHANGE':<12} ALARMS (value op threshold)"]
    for ev in evaluations:
        transition = moved.get(ev.key)
        change = (f"{transition.previous or '-'}→{ev.state}" if transition and transition.changed
                  else "pending" if transition else "")
        alarms = ", ".join(f"{'!' if r.breached else ''}{r.alarm.name}={r.value:g} {r.alarm.op} "
                           f"{r.alarm.threshold:g}" for r in ev.results)
        lines.append(f"  {ev.group.slug:<24} {ev.state:<6} {change:<12} {alarms}")
    for key, conn in sent:
        lines.append(f"  sent: {key} → {conn}")
    for key, conn, error in failed:
        lines.append(f"  FAILED: {key} → {conn}: {error}")
    return "\n".join(lines)
