"""The change process: only legal transitions, and four eyes on every approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patchwarden.domain.change import (
    TRANSITIONS,
    ChangeRecord,
    ChangeState,
    IllegalTransition,
    RiskSummary,
)

T = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
S = ChangeState


def record(**kw: object) -> ChangeRecord:
    fields: dict[str, object] = {
        "id": 3, "campaign": "c", "plan_hash": "a" * 64, "requester": "alice",
        "created_at": T, "risk": RiskSummary(level="medium"),
    }  # fmt: skip
    fields.update(kw)
    return ChangeRecord.model_validate(fields)


def test_the_happy_path_records_every_move() -> None:
    r = record().transition(S.SUBMITTED, "alice", T)
    r = r.decide("bob", T + timedelta(minutes=5), "approved", "looks fine")
    assert r.state is S.APPROVED and r.approvers == ("bob",)
    r = r.transition(S.SCHEDULED, "alice", T).transition(S.IN_PROGRESS, "runner", T)
    r = r.transition(S.COMPLETED, "runner", T)
    assert [(h.from_state, h.to_state) for h in r.history] == [
        (S.DRAFT, S.SUBMITTED),
        (S.SUBMITTED, S.APPROVED),
        (S.APPROVED, S.SCHEDULED),
        (S.SCHEDULED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
    ]
    assert r.history[1].by == "bob" and r.history[1].note == "looks fine"


ALL_MOVES = [(a, b) for a in S for b in S]
LEGAL = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("start", "to"), [m for m in ALL_MOVES if m not in LEGAL])
def test_every_illegal_transition_is_refused(start: ChangeState, to: ChangeState) -> None:
    with pytest.raises(IllegalTransition, match=f"is {start.value}; it cannot become {to.value}"):
        record(state=start).transition(to, "alice", T)


def test_the_transition_table_is_the_documented_one() -> None:
    assert TRANSITIONS[S.DRAFT] == {S.SUBMITTED, S.SUPERSEDED}
    assert TRANSITIONS[S.SUBMITTED] == {S.APPROVED, S.REJECTED, S.SUPERSEDED}
    assert TRANSITIONS[S.APPROVED] == {S.SCHEDULED, S.IN_PROGRESS, S.SUPERSEDED}
    assert TRANSITIONS[S.SCHEDULED] == {S.IN_PROGRESS, S.SUPERSEDED}
    assert TRANSITIONS[S.IN_PROGRESS] == {S.COMPLETED, S.ROLLED_BACK, S.FAILED}
    # A closed change may only be backed out.
    assert TRANSITIONS[S.COMPLETED] == {S.ROLLED_BACK}
    assert TRANSITIONS[S.FAILED] == {S.ROLLED_BACK}
    finals = {S.REJECTED, S.ROLLED_BACK, S.SUPERSEDED}
    assert {s for s, t in TRANSITIONS.items() if not t} == finals


def test_the_requester_cannot_approve_or_reject() -> None:
    submitted = record(state=S.SUBMITTED)
    with pytest.raises(IllegalTransition, match="four eyes: alice requested CHG-3"):
        submitted.decide("alice", T, "approved")
    with pytest.raises(IllegalTransition, match="four eyes"):
        submitted.decide("alice", T, "rejected")


def test_only_a_submitted_change_can_be_decided() -> None:
    for state in (S.DRAFT, S.APPROVED, S.REJECTED, S.COMPLETED):
        with pytest.raises(IllegalTransition, match="only a submitted change"):
            record(state=state).decide("bob", T, "approved")


def test_several_approvers_must_be_different_people() -> None:
    r = record(state=S.SUBMITTED, approvals_required=2).decide("bob", T, "approved")
    assert r.state is S.SUBMITTED and r.approvers == ("bob",)
    with pytest.raises(IllegalTransition, match="bob already approved"):
        r.decide("bob", T, "approved")
    r = r.decide("carol", T, "approved")
    assert r.state is S.APPROVED and r.approvers == ("bob", "carol")


def test_a_rejection_closes_the_change_with_the_reason() -> None:
    r = record(state=S.SUBMITTED).decide("bob", T, "rejected", "no rollback tested")
    assert r.state is S.REJECTED
    assert r.approvals[-1].decision == "rejected" and r.history[-1].note == "no rollback tested"
    with pytest.raises(IllegalTransition):
        r.transition(S.SUBMITTED, "alice", T)


def test_approvals_count_only_for_the_pinned_hash() -> None:
    r = record(state=S.SUBMITTED).decide("bob", T, "approved")
    moved = r.model_copy(update={"plan_hash": "b" * 64})
    assert r.approvers == ("bob",) and moved.approvers == ()


def test_records_round_trip_through_json() -> None:
    r = record().transition(S.SUBMITTED, "alice", T).decide("bob", T, "approved")
    assert ChangeRecord.model_validate_json(r.model_dump_json()) == r
