"""The snapshot state machine (plain Python, no Airflow or SQL).

A *snapshot* is one collection run of one source (one chunk of it) within a delivery, as in
Workbench. Its states and the only moves between them:

==============  ===============================================  ============================================
From            To                                               Why (the Workbench guide's words)
==============  ===============================================  ============================================
(created)       START_PENDING, PENDING_IMPORT                    a run is asked for / re-import or re-extract
START_PENDING   STARTED, START_FAILED                            the crawl started / the start failed
START_FAILED    START_PENDING, SUPERCEDED                        "retry start" / replaced by a re-run
STARTED         PENDING_IMPORT, RUN_FAILED                       the crawl finished / failed or was cancelled
RUN_FAILED      SUPERCEDED                                       "re-run": a new snapshot replaces it
PENDING_IMPORT  PASSED_QA, PENDING_QA, ESCALATED, RUN_FAILED     checks passed / failed / an escalating check
                                                                 failed / the results could not be imported
PENDING_QA      QA                                               someone is assigned ("automatically ... QA")
ESCALATED       QA                                               someone is assigned
QA              PASSED_QA, FAILED_QA, PUSHED_IGNORE, SUPERCEDED  false alarm / bad data / push anyway /
                                                                 re-import, re-extract, re-run
FAILED_QA       PUSHED_IGNORE, SUPERCEDED                        push anyway / re-import, re-extract, re-run
PASSED_QA       PUSHED, SUPERCEDED                               pushed / replaced before it was pushed
PUSHED          SUPERCEDED                                       corrected data delivered again
PUSHED_IGNORE   SUPERCEDED                                       corrected data delivered again
SUPERCEDED      (none)                                           terminal
==============  ===============================================  ============================================

Decisions, with reasons:

* A verdict on failed QA (PASSED_QA, FAILED_QA, PUSHED_IGNORE) or a replacement is made only
  from QA, so every verdict has an owner in the history: the guide has the reviewer "mark it
  assigned" first, PENDING_QA → QA on assignment, and ESCALATED snapshots are assigned the same way.
* A crawl that ran and failed is never restarted in place: "re-run" creates a new snapshot and
  moves the old one to SUPERCEDED, so each snapshot's statistics belong to exactly one crawl run.
  "Retry start" (START_FAILED → START_PENDING) keeps the snapshot, because no crawl ran.
* Pushing and re-pushing do not move a snapshot out of PUSHED or PUSHED_IGNORE: each push attempt
  is a row in ``pushes``. A PASSED_QA snapshot becomes PUSHED once pushed; PUSHED_IGNORE (pushed
  despite failed QA, left out of "good data" statistics) stays where it is.
* No state moves to itself; SUPERCEDED is the only terminal state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum


class SnapshotState(str, Enum):
    """The states of a snapshot; the values are the names Workbench uses."""

    START_PENDING = "START_PENDING"
    STARTED = "STARTED"
    START_FAILED = "START_FAILED"
    RUN_FAILED = "RUN_FAILED"
    PENDING_IMPORT = "PENDING_IMPORT"
    PENDING_QA = "PENDING_QA"
    QA = "QA"
    ESCALATED = "ESCALATED"
    PASSED_QA = "PASSED_QA"
    FAILED_QA = "FAILED_QA"
    PUSHED = "PUSHED"
    PUSHED_IGNORE = "PUSHED_IGNORE"
    SUPERCEDED = "SUPERCEDED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | SnapshotState) -> SnapshotState:
        """The state named by *value*; ``ValueError`` listing the valid names otherwise."""
        if isinstance(value, SnapshotState):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown snapshot state {value!r}; expected one of {names}") from None


S = SnapshotState

#: Allowed moves: state → the states it may move to (see the module docstring for the reasons).
TRANSITIONS: Mapping[SnapshotState, frozenset[SnapshotState]] = {
    S.START_PENDING: frozenset({S.STARTED, S.START_FAILED}),
    S.START_FAILED: frozenset({S.START_PENDING, S.SUPERCEDED}),
    S.STARTED: frozenset({S.PENDING_IMPORT, S.RUN_FAILED}),
    S.RUN_FAILED: frozenset({S.SUPERCEDED}),
    S.PENDING_IMPORT: frozenset({S.PASSED_QA, S.PENDING_QA, S.ESCALATED, S.RUN_FAILED}),
    S.PENDING_QA: frozenset({S.QA}),
    S.ESCALATED: frozenset({S.QA}),
    S.QA: frozenset({S.PASSED_QA, S.FAILED_QA, S.PUSHED_IGNORE, S.SUPERCEDED}),
    S.FAILED_QA: frozenset({S.PUSHED_IGNORE, S.SUPERCEDED}),
    S.PASSED_QA: frozenset({S.PUSHED, S.SUPERCEDED}),
    S.PUSHED: frozenset({S.SUPERCEDED}),
    S.PUSHED_IGNORE: frozenset({S.SUPERCEDED}),
    S.SUPERCEDED: frozenset(),
}

#: States a snapshot may be created in: a run to start, or a re-import/re-extract of collected data.
INITIAL_STATES: frozenset[SnapshotState] = frozenset({S.START_PENDING, S.PENDING_IMPORT})
#: A start or a run that failed.
FAILURE_STATES: frozenset[SnapshotState] = frozenset({S.START_FAILED, S.RUN_FAILED})
#: States with no way out.
TERMINAL_STATES: frozenset[SnapshotState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
#: Snapshots whose data may be pushed to destinations.
PUSHABLE_STATES: frozenset[SnapshotState] = frozenset({S.PASSED_QA, S.PUSHED_IGNORE})
#: Snapshots waiting for a person (the alarms watch these counts).
REVIEW_STATES: frozenset[SnapshotState] = frozenset({S.PENDING_QA, S.ESCALATED, S.QA, S.FAILED_QA})


class IllegalTransition(Exception):
    """A move the state machine does not allow; names the snapshot and both states."""

    def __init__(self, snapshot_id: str | None, from_state: SnapshotState | str | None,
                 to_state: SnapshotState | str, message: str | None = None) -> None:
        self.snapshot_id = snapshot_id
        self.from_state = from_state
        self.to_state = to_state
        if message is None:
            allowed = sorted(t.value for t in allowed_targets(from_state)) if from_state else []
            message = (
                f"snapshot {snapshot_id or '?'}: cannot move from {from_state} to {to_state}"
                f" (allowed from {from_state}: {', '.join(allowed) or 'none, it is terminal'})"
            )
        super().__init__(message)


class ConcurrentTransition(IllegalTransition):
    """Another worker moved the snapshot between our read and our write (or it was not in the
    state the caller expected); names the state found."""

    def __init__(self, snapshot_id: str | None, expected_state: SnapshotState | str,
                 found_state: SnapshotState | str, to_state: SnapshotState | str) -> None:
        self.expected_state = expected_state
        self.found_state = found_state
        super().__init__(
            snapshot_id, found_state, to_state,
            f"snapshot {snapshot_id or '?'}: cannot move from {expected_state} to {to_state}: "
            f"it is now {found_state} (moved by another worker)",
        )


def allowed_targets(state: SnapshotState | str) -> frozenset[SnapshotState]:
    """The states *state* may move to."""
    return TRANSITIONS[SnapshotState.parse(state)]


def can_transition(from_state: SnapshotState | str, to_state: SnapshotState | str) -> bool:
    """Whether the move is allowed."""
    return SnapshotState.parse(to_state) in allowed_targets(from_state)


def check_transition(from_state: SnapshotState | str, to_state: SnapshotState | str,
                     snapshot_id: str | None = None) -> None:
    """Raise :class:`IllegalTransition` unless the move is allowed."""
    source, target = SnapshotState.parse(from_state), SnapshotState.parse(to_state)
    if target not in TRANSITIONS[source]:
        raise IllegalTransition(snapshot_id, source, target)


def check_initial(state: SnapshotState | str, snapshot_id: str | None = None) -> SnapshotState:
    """The state, if a snapshot may be created in it; :class:`IllegalTransition` otherwise."""
    target = SnapshotState.parse(state)
    if target not in INITIAL_STATES:
        raise IllegalTransition(
            snapshot_id, None, target,
            f"snapshot {snapshot_id or '?'}: cannot be created in {target}"
            f" (allowed: {', '.join(sorted(s.value for s in INITIAL_STATES))})",
        )
    return target


def transition_table(states: Iterable[SnapshotState] = SnapshotState) -> list[tuple[str, str]]:
    """``(from, "to1 | to2")`` rows, for docs and error pages."""
    return [(s.value, " | ".join(t.value for t in sorted(TRANSITIONS[s], key=_order)) or "-") for s in states]


def _order(state: SnapshotState) -> int:
    return list(SnapshotState).index(state)
