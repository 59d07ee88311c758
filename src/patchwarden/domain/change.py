"""Change records: the formal approval a campaign touching production needs.

A change pins the plan it approves by hash, carries what a change board reads (risk, schedule,
affected assets and services, rollback plan) and records who did what. Its life::

    draft ─► submitted ─► approved ─► scheduled ─► in_progress ─► completed ─┐
                 │            │                          ├──────► rolled_back ◄┤
                 ▼            └────────► in_progress     └──────► failed ──────┘
              rejected
    (draft, submitted, approved and scheduled may also become superseded by a newer plan)

A completed or failed change may still be backed out: a person's ``rollback`` of its run (the
old side of a blue-green pair, the previous image, the recorded versions) closes it as
rolled_back. Nothing leaves rolled_back, rejected or superseded.

Four eyes: whoever requested a change cannot approve it. Every transition is checked by
:meth:`ChangeRecord.transition`, which returns a new record and never changes this one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from patchwarden.domain.base import Value

__all__ = [
    "ACTIVE_STATES",
    "TRANSITIONS",
    "Approval",
    "ChangeRecord",
    "ChangeState",
    "IllegalTransition",
    "RiskSummary",
    "RollbackEntry",
    "ScheduleEntry",
    "Transition",
]


class IllegalTransition(ValueError):
    """A state change the change process does not allow, or a four-eyes violation."""


class ChangeState(StrEnum):
    """Where a change stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    SUPERSEDED = "superseded"


_S = ChangeState
TRANSITIONS: dict[ChangeState, frozenset[ChangeState]] = {
    _S.DRAFT: frozenset({_S.SUBMITTED, _S.SUPERSEDED}),
    _S.SUBMITTED: frozenset({_S.APPROVED, _S.REJECTED, _S.SUPERSEDED}),
    # An approved emergency change starts at once; a normal one is scheduled first.
    _S.APPROVED: frozenset({_S.SCHEDULED, _S.IN_PROGRESS, _S.SUPERSEDED}),
    _S.SCHEDULED: frozenset({_S.IN_PROGRESS, _S.SUPERSEDED}),
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.ROLLED_BACK, _S.FAILED}),
    _S.REJECTED: frozenset(),
    # Backed out after it closed: the run's rollback, asked for by a person.
    _S.COMPLETED: frozenset({_S.ROLLED_BACK}),
    _S.ROLLED_BACK: frozenset(),
    _S.FAILED: frozenset({_S.ROLLED_BACK}),
    _S.SUPERSEDED: frozenset(),
}
"""Every legal move; anything else raises :class:`IllegalTransition`."""

ACTIVE_STATES = frozenset({_S.APPROVED, _S.SCHEDULED, _S.IN_PROGRESS})
"""States in which the approved plan may run."""


class RiskSummary(Value):
    """What the change board weighs, summarised from the decisions behind the plan."""

    level: Literal["low", "medium", "high", "critical"]
    findings: int = 0
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_action: dict[str, int] = Field(default_factory=dict)
    exploited: int = 0
    reboots: int = 0
    reasons: tuple[str, ...] = ()


class ScheduleEntry(Value):
    """When one wave is expected to run, and in which maintenance window."""

    wave: str
    env: str
    start: datetime | None = None
    end: datetime | None = None
    windows: tuple[str, ...] = ()


class RollbackEntry(Value):
    """How one group is put back if its patch goes wrong, from the group's strategy."""

    group: str
    strategy: str
    how: str


class Approval(Value):
    """One approver's decision on one plan hash."""

    by: str
    at: datetime
    decision: Literal["approved", "rejected"]
    plan_hash: str
    comment: str = ""


class Transition(Value):
    """One move of the change's state, for the audit trail."""

    at: datetime
    by: str
    from_state: ChangeState
    to_state: ChangeState
    note: str = ""


class ChangeRecord(Value):
    """A change request for one plan.

    ``id`` is 0 until the store assigns one; ``revision`` counts writes so two people acting
    on the same change at once cannot both win.
    """

    id: int = 0
    revision: int = 0
    campaign: str
    plan_hash: Annotated[str, Field(min_length=1, max_length=64)]
    requester: str
    created_at: datetime
    title: str = ""
    emergency: bool = False
    state: ChangeState = ChangeState.DRAFT
    environments: tuple[str, ...] = ()
    risk: RiskSummary
    schedule: tuple[ScheduleEntry, ...] = ()
    affected_assets: tuple[str, ...] = ()
    affected_services: tuple[str, ...] = ()
    rollback_plan: tuple[RollbackEntry, ...] = ()
    approvals_required: Annotated[int, Field(ge=1)] = 1
    approvals: tuple[Approval, ...] = ()
    history: tuple[Transition, ...] = ()

    @property
    def label(self) -> str:
        """How people refer to it: ``CHG-12``."""
        return f"CHG-{self.id}"

    @property
    def approvers(self) -> tuple[str, ...]:
        """Who approved the pinned plan hash, in order."""
        pinned = self.plan_hash
        return tuple(
            a.by for a in self.approvals if a.decision == "approved" and a.plan_hash == pinned
        )

    def transition(self, to: ChangeState, by: str, at: datetime, note: str = "") -> ChangeRecord:
        """This change moved to ``to``.

        Raises:
            IllegalTransition: the process does not allow the move.
        """
        if to not in TRANSITIONS[self.state]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.state])) or "none (final)"
            raise IllegalTransition(
                f"{self.label} is {self.state.value}; it cannot become {to.value} "
                f"(allowed next: {allowed})"
            )
        step = Transition(at=at, by=by, from_state=self.state, to_state=to, note=note)
        return self.model_copy(update={"state": to, "history": (*self.history, step)})

    def decide(
        self, by: str, at: datetime, decision: Literal["approved", "rejected"], comment: str = ""
    ) -> ChangeRecord:
        """Record an approver's decision; enough approvals move the change to approved.

        Raises:
            IllegalTransition: the change is not submitted, ``by`` requested it (four eyes),
                or ``by`` already approved it.
        """
        if self.state is not ChangeState.SUBMITTED:
            raise IllegalTransition(
                f"{self.label} is {self.state.value}; only a submitted change can be {decision}"
            )
        if by == self.requester:
            raise IllegalTransition(
                f"four eyes: {by} requested {self.label} and cannot also approve or reject it; "
                "ask another person"
            )
        if by in self.approvers:
            raise IllegalTransition(f"{by} already approved {self.label}")
        vote = Approval(by=by, at=at, decision=decision, plan_hash=self.plan_hash, comment=comment)
        record = self.model_copy(update={"approvals": (*self.approvals, vote)})
        if decision == "rejected":
            return record.transition(ChangeState.REJECTED, by, at, comment)
        if len(record.approvers) >= self.approvals_required:
            return record.transition(ChangeState.APPROVED, by, at, comment)
        return record
