"""Alarms and alarm groups: the configuration pieces, evaluation and state transitions (no Airflow).

An :class:`Alarm` is a metric (:data:`~.alarm_metrics.METRIC_NAMES`), a comparison and a
threshold, optionally scoped to a collection and/or flow of the project. An :class:`AlarmGroup` is
in ALARM when any of its alarms is. :func:`evaluate_groups` evaluates groups against metrics
computed per scope; :func:`transitions` records each group's state in the store and returns what
must be told to the group's subscriptions.

Delivery of notifications is at least once and never lost: each recorded state carries, per
subscription, the state that subscription was last told (``details["notified"]``). A subscription
is *pending* while that differs from the group's state; :func:`mark_notified` records a successful
send. A failed send therefore stays pending and the next evaluation sends it again; a state that
flips back before it was told is not sent at all. See ``docs/alarms.md``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import AlarmChange
    from airflow_provider_importio.store.store import Store

ALARM = "ALARM"
OK = "OK"
#: Comparisons of an alarm: it is in ALARM when ``value <op> threshold``.
ALARM_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
}
SUBSCRIPTION_TYPES = ("PAGERDUTY",)
#: Transitions kept in ``details["history"]`` of a group's state.
HISTORY_LENGTH = 20


class MetricScope(NamedTuple):
    """What a metric is computed over: a project, optionally one collection and/or one flow."""

    project: str
    collection: str | None = None
    flow: str | None = None

    def describe(self) -> str:
        parts = [self.project]
        if self.collection:
            parts.append(f"collection {self.collection}")
        if self.flow:
            parts.append(f"flow {self.flow}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Alarm:
    """``metric <op> threshold`` means ALARM; ``collection``/``flow`` narrow the scope."""

    name: str
    metric: str
    op: str
    threshold: float
    collection: str | None = None
    flow: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.op not in ALARM_OPS:
            raise ValueError(f"alarm {self.name!r}: op must be one of {' '.join(ALARM_OPS)}, not {self.op!r}")

    def scope(self, project: str) -> MetricScope:
        return MetricScope(project, self.collection, self.flow)

    def breached(self, value: float) -> bool:
        return ALARM_OPS[self.op](value, self.threshold)

    @property
    def condition(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Subscription:
    """Where a group's transitions go: ``PAGERDUTY`` with the Airflow connection holding the
    routing (integration) key."""

    type: str
    connection: str


@dataclass(frozen=True)
class AlarmGroup:
    """Alarms (by name) and the subscriptions told when the group moves into or out of ALARM."""

    slug: str
    name: str
    alarms: tuple[str, ...]
    subscriptions: tuple[Subscription, ...] = ()


@dataclass(frozen=True)
class AlarmResult:
    """One alarm's value in one evaluation."""

    alarm: Alarm
    scope: MetricScope
    value: float
    breached: bool

    def to_dict(self) -> dict[str, Any]:
        return {"alarm": self.alarm.name, "metric": self.alarm.metric, "op": self.alarm.op,
                "threshold": self.alarm.threshold, "value": self.value, "scope": self.scope.describe()}

    def describe(self) -> str:
        return f"{self.alarm.name}: {self.alarm.metric} = {self.value:g} {self.alarm.op} {self.alarm.threshold:g}"


@dataclass(frozen=True)
class GroupEvaluation:
    """A group's state (ALARM or OK) and its alarms' values; ``key`` names it in the store."""

    group: AlarmGroup
    project: str
    state: str
    results: tuple[AlarmResult, ...]

    @property
    def key(self) -> str:
        return f"{self.project}/{self.group.slug}"

    @property
    def failing(self) -> tuple[AlarmResult, ...]:
        return tuple(r for r in self.results if r.breached)


@dataclass(frozen=True)
class AlarmTransition:
    """A group whose state some subscriptions have not been told yet.

    ``changed``: this evaluation moved the state (``previous`` → ``state``); otherwise it is an
    earlier change whose notification failed. ``pending``: the subscriptions to tell.
    """

    evaluation: GroupEvaluation
    previous: str | None
    changed: bool
    pending: tuple[Subscription, ...] = field(default=())

    @property
    def state(self) -> str:
        return self.evaluation.state

    @property
    def action(self) -> str:
        """The PagerDuty Events API action: ``trigger`` into ALARM, ``resolve`` out of it."""
        return "trigger" if self.state == ALARM else "resolve"


def required_scopes(groups: Iterable[AlarmGroup], alarms: Mapping[str, Alarm] | Iterable[Alarm],
                    project: str) -> list[MetricScope]:
    """The scopes whose metrics the groups' alarms need, in first-use order."""
    by_name = _by_name(alarms)
    scopes: dict[MetricScope, None] = {}
    for group in groups:
        for name in group.alarms:
            scopes.setdefault(by_name[name].scope(project))
    return list(scopes)


def evaluate_groups(
    groups: Iterable[AlarmGroup],
    alarms: Mapping[str, Alarm] | Iterable[Alarm],
    metrics_by_scope: Mapping[MetricScope, Mapping[str, float]],
    *,
    project: str,
) -> list[GroupEvaluation]:
    """Each group's state: ALARM when any of its alarms is breached, else OK. Raises
    :class:`KeyError` for an alarm name, scope or metric that is not there."""
    by_name = _by_name(alarms)
    evaluations = []
    for group in groups:
        results = []
        for name in group.alarms:
            alarm = by_name.get(name)
            if alarm is None:
                raise KeyError(f"alarm group {group.slug!r}: unknown alarm {name!r}")
            scope = alarm.scope(project)
            metrics = metrics_by_scope.get(scope)
            if metrics is None or alarm.metric not in metrics:
                raise KeyError(f"alarm {name!r}: no value of {alarm.metric!r} for {scope.describe()}")
            value = float(metrics[alarm.metric])
            results.append(AlarmResult(alarm, scope, value, alarm.breached(value)))
        state = ALARM if any(r.breached for r in results) else OK
        evaluations.append(GroupEvaluation(group, project, state, tuple(results)))
    return evaluations


def _by_name(alarms: Mapping[str, Alarm] | Iterable[Alarm]) -> dict[str, Alarm]:
    return dict(alarms) if isinstance(alarms, Mapping) else {a.name: a for a in alarms}


def _notified(details: Mapping[str, Any] | None) -> dict[str, str]:
    raw = (details or {}).get("notified")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def transitions(store: Store, evaluations: Iterable[GroupEvaluation], *,
                now: datetime | None = None) -> list[AlarmTransition]:
    """Record each evaluation with :meth:`Store.set_alarm_state` and return the groups with
    subscriptions to tell (the state changed now, or an earlier change is still unsent).

    A subscription never told anything counts as told OK, so a group that starts OK sends nothing.
    """
    at = (now or datetime.now(timezone.utc)).isoformat()
    out: list[AlarmTransition] = []
    for ev in evaluations:
        before = store.alarm_state(ev.key)
        notified = _notified(before.details if before else None)
        history = list((before.details if before else {}).get("history") or [])
        stale = before is not None and before.state != ev.state  # the state we read was the old one
        details: dict[str, Any] = {
            "project": ev.project, "group": ev.group.slug, "name": ev.group.name,
            "failing": [r.to_dict() for r in ev.failing],
            "values": {r.alarm.name: r.value for r in ev.results},
            "notified": notified, "history": history,
        }
        change: AlarmChange = store.set_alarm_state(ev.key, ev.state, details)
        if change.changed:
            history.append({"from": change.previous, "to": ev.state, "at": at})
            details["history"] = history[-HISTORY_LENGTH:]
            change = store.set_alarm_state(ev.key, ev.state, details)
            changed = True
        else:
            changed = False
            if stale:  # another evaluator recorded this change; it sends the notifications
                continue
        pending = tuple(s for s in ev.group.subscriptions if notified.get(s.connection, OK) != ev.state)
        if pending:
            out.append(AlarmTransition(ev, before.state if before else None, changed, pending))
    return out


def mark_notified(store: Store, transition: AlarmTransition, subscription: Subscription) -> bool:
    """Record that *subscription* was told the transition's state; ``False`` (nothing written)
    when the group's state has moved on meanwhile (the next evaluation deals with that)."""
    current = store.alarm_state(transition.evaluation.key)
    if current is None or current.state != transition.state:
        return False
    details = dict(current.details)
    details["notified"] = {**_notified(details), subscription.connection: transition.state}
    store.set_alarm_state(transition.evaluation.key, transition.state, details)
    return True
