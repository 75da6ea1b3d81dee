from __future__ import annotations

import pytest

from airflow_provider_importio.workbench.snapshot_states import (
    FAILURE_STATES,
    INITIAL_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    ConcurrentTransition,
    IllegalTransition,
    SnapshotState,
    can_transition,
    check_initial,
    check_transition,
    transition_table,
)

S = SnapshotState
ALLOWED = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
DISALLOWED = [
    (S.START_PENDING, S.PENDING_IMPORT),  # must be STARTED first
    (S.START_PENDING, S.PUSHED),
    (S.STARTED, S.STARTED),  # no self moves
    (S.STARTED, S.PASSED_QA),  # checks run on imported data only
    (S.RUN_FAILED, S.START_PENDING),  # a re-run is a new snapshot
    (S.PENDING_QA, S.PASSED_QA),  # a verdict needs an assignee (QA) first
    (S.ESCALATED, S.PUSHED_IGNORE),
    (S.QA, S.PUSHED),
    (S.FAILED_QA, S.PASSED_QA),
    (S.PASSED_QA, S.FAILED_QA),
    (S.PUSHED, S.PUSHED),
    (S.PUSHED_IGNORE, S.PUSHED),
    (S.SUPERCEDED, S.START_PENDING),
    (S.SUPERCEDED, S.QA),
]


def test_every_state_has_a_row():
    assert set(TRANSITIONS) == set(SnapshotState)
    assert all(isinstance(t, frozenset) for t in TRANSITIONS.values())


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED, ids=[f"{a.value}->{b.value}" for a, b in ALLOWED])
def test_allowed_transitions_pass(from_state, to_state):
    check_transition(from_state, to_state, "snap-1")
    assert can_transition(from_state.value, to_state.value)


@pytest.mark.parametrize(("from_state", "to_state"), DISALLOWED,
                         ids=[f"{a.value}->{b.value}" for a, b in DISALLOWED])
def test_disallowed_transitions_raise_naming_both_states(from_state, to_state):
    assert not can_transition(from_state, to_state)
    with pytest.raises(IllegalTransition) as info:
        check_transition(from_state, to_state, "snap-1")
    message = str(info.value)
    assert f"from {from_state.value} to {to_state.value}" in message
    assert "snap-1" in message
    assert (info.value.from_state, info.value.to_state, info.value.snapshot_id) == (from_state, to_state, "snap-1")


def test_disallowed_is_the_complement_of_allowed():
    allowed = set(ALLOWED)
    for a in SnapshotState:
        for b in SnapshotState:
            assert can_transition(a, b) == ((a, b) in allowed)


def test_workbench_paths_from_the_guide():
    def walk(*states):
        for a, b in zip(states, states[1:], strict=False):
            check_transition(a, b)

    walk(S.START_PENDING, S.STARTED, S.PENDING_IMPORT, S.PASSED_QA, S.PUSHED)
    walk(S.START_PENDING, S.START_FAILED, S.START_PENDING, S.STARTED)  # retry start
    walk(S.PENDING_IMPORT, S.PENDING_QA, S.QA, S.PASSED_QA)  # false alarm
    walk(S.PENDING_IMPORT, S.ESCALATED, S.QA, S.PUSHED_IGNORE)  # push anyway
    walk(S.QA, S.FAILED_QA, S.SUPERCEDED)  # re-import / re-extract / re-run
    walk(S.STARTED, S.RUN_FAILED, S.SUPERCEDED)


def test_state_sets():
    assert TERMINAL_STATES == {S.SUPERCEDED}
    assert FAILURE_STATES == {S.START_FAILED, S.RUN_FAILED}
    assert INITIAL_STATES == {S.START_PENDING, S.PENDING_IMPORT}
    # Every state but the initial ones can be reached, and SUPERCEDED from every failure.
    reachable = {b for targets in TRANSITIONS.values() for b in targets}
    assert reachable | INITIAL_STATES == set(SnapshotState)
    assert all(S.SUPERCEDED in TRANSITIONS[s] for s in FAILURE_STATES)


def test_parse_and_initial():
    assert SnapshotState.parse(" passed_qa ") is S.PASSED_QA
    assert str(S.QA) == "QA"
    with pytest.raises(ValueError, match="unknown snapshot state 'DONE'.*START_PENDING"):
        SnapshotState.parse("DONE")
    assert check_initial("START_PENDING") is S.START_PENDING
    with pytest.raises(IllegalTransition, match="cannot be created in QA"):
        check_initial(S.QA, "snap-2")


def test_concurrent_transition_names_the_state_found():
    error = ConcurrentTransition("snap-3", S.START_PENDING, S.STARTED, S.STARTED)
    assert isinstance(error, IllegalTransition)
    assert "START_PENDING to STARTED" in str(error) and "it is now STARTED" in str(error)
    assert error.found_state is S.STARTED


def test_transition_table_rows():
    rows = dict(transition_table())
    assert rows["QA"] == "PASSED_QA | FAILED_QA | PUSHED_IGNORE | SUPERCEDED"
    assert rows["SUPERCEDED"] == "-"
