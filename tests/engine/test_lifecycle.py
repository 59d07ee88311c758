"""The run lifecycle: every (state, command) pair against the rules of engine/lifecycle."""

from __future__ import annotations

import pytest

from patchwarden.engine.lifecycle import (
    Outcome,
    RunCommand,
    RunState,
    Verdict,
    transition,
)

S = RunState
C = RunCommand
MOVED, SAME, NO = Verdict.MOVED, Verdict.UNCHANGED, Verdict.REFUSED
ENDED = (S.COMPLETED, S.COMPLETED_WITH_FAILURES, S.STOPPED, S.ABORTED, S.ROLLED_BACK)

# (state, command) -> (state after, verdict); finish with a clean outcome.
TABLE: dict[tuple[RunState, RunCommand], tuple[RunState, Verdict]] = {
    (S.RUNNING, C.PAUSE): (S.PAUSING, MOVED),
    (S.RUNNING, C.RESUME): (S.RUNNING, SAME),
    (S.RUNNING, C.ABORT): (S.ABORTING, MOVED),
    (S.RUNNING, C.ROLLBACK): (S.ROLLING_BACK, MOVED),
    (S.RUNNING, C.HOLD): (S.PAUSED, MOVED),
    (S.RUNNING, C.FINISH): (S.COMPLETED, MOVED),
    (S.PAUSING, C.PAUSE): (S.PAUSING, SAME),
    (S.PAUSING, C.RESUME): (S.RUNNING, MOVED),
    (S.PAUSING, C.ABORT): (S.ABORTING, MOVED),
    (S.PAUSING, C.ROLLBACK): (S.ROLLING_BACK, MOVED),
    (S.PAUSING, C.HOLD): (S.PAUSED, MOVED),
    (S.PAUSING, C.FINISH): (S.COMPLETED, MOVED),
    (S.PAUSED, C.PAUSE): (S.PAUSED, SAME),
    (S.PAUSED, C.RESUME): (S.RUNNING, MOVED),
    (S.PAUSED, C.ABORT): (S.ABORTING, MOVED),
    (S.PAUSED, C.ROLLBACK): (S.ROLLING_BACK, MOVED),
    (S.PAUSED, C.HOLD): (S.PAUSED, SAME),
    (S.PAUSED, C.FINISH): (S.COMPLETED, MOVED),
    (S.ABORTING, C.PAUSE): (S.ABORTING, NO),
    (S.ABORTING, C.RESUME): (S.ABORTING, SAME),
    (S.ABORTING, C.ABORT): (S.ABORTING, SAME),
    (S.ABORTING, C.ROLLBACK): (S.ROLLING_BACK, MOVED),
    (S.ABORTING, C.HOLD): (S.ABORTING, SAME),
    (S.ABORTING, C.FINISH): (S.ABORTED, MOVED),
    (S.ROLLING_BACK, C.PAUSE): (S.ROLLING_BACK, NO),
    (S.ROLLING_BACK, C.RESUME): (S.ROLLING_BACK, SAME),
    (S.ROLLING_BACK, C.ABORT): (S.ROLLING_BACK, NO),
    (S.ROLLING_BACK, C.ROLLBACK): (S.ROLLING_BACK, SAME),
    (S.ROLLING_BACK, C.HOLD): (S.ROLLING_BACK, SAME),
    (S.ROLLING_BACK, C.FINISH): (S.ROLLED_BACK, MOVED),
}
for _ended in ENDED:
    for _command in C:
        TABLE[(_ended, _command)] = (_ended, SAME if _command is C.RESUME else NO)
    if _ended is not S.ROLLED_BACK:
        TABLE[(_ended, C.ROLLBACK)] = (S.ROLLING_BACK, MOVED)


def test_the_table_covers_every_pair() -> None:
    assert set(TABLE) == {(s, c) for s in S for c in C}


@pytest.mark.parametrize(("state", "command"), sorted(TABLE))
def test_transition(state: RunState, command: RunCommand) -> None:
    result = transition(state, command)
    assert (result.state, result.verdict) == TABLE[(state, command)]
    if result.verdict is NO:
        assert result.reason  # a refusal says why, for the person who asked


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (Outcome.CLEAN, S.COMPLETED),
        (Outcome.FAILURES, S.COMPLETED_WITH_FAILURES),
        (Outcome.STOPPED, S.STOPPED),
    ],
)
def test_finish_names_the_end_by_its_outcome_unless_a_person_asked(
    outcome: Outcome, state: RunState
) -> None:
    assert transition(S.RUNNING, C.FINISH, outcome).state is state
    assert transition(S.ROLLING_BACK, C.FINISH, outcome).state is S.ROLLED_BACK
    assert transition(S.ABORTING, C.FINISH, outcome).state is S.ABORTED


def test_ended_states_and_failures() -> None:
    assert {s for s in S if s.ended} == set(ENDED)
    assert {s for s in S if s.failed} == set(ENDED) - {S.COMPLETED}
    assert S.ROLLED_BACK.control == "rollback" and S.RUNNING.control == ""
