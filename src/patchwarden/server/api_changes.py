"""``/api/v1/changes``: submit a campaign for approval, approve or reject it, show it.

Four eyes on authenticated identities: the requester is the caller who submitted, and
the service refuses that same user as approver whatever name it might claim. An approval
names the plan hash the approver reviewed; if the change pins another, it is refused, and
approvals of an earlier plan never count for a new one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from patchwarden.domain.change import ChangeRecord
from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.change import approve_change, reject_change
from patchwarden.service.submission import submit_campaign

__all__ = ["Approve", "Reject", "Submit", "router"]

router = APIRouter(prefix="/changes", tags=["changes"])


class Submit(BaseModel):
    """A campaign YAML to plan and submit."""

    campaign: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    file_name: str = "campaign.yaml"
    title: str = ""
    emergency: bool | None = None


class Approve(BaseModel):
    """The plan hash the approver reviewed, and why."""

    plan_hash: Annotated[str, Field(min_length=64, max_length=64)]
    comment: str = ""


class Reject(BaseModel):
    """Why the change is rejected."""

    reason: Annotated[str, Field(min_length=1)]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _visible(found: Caller, change: ChangeRecord) -> bool:
    envs = found.grant.environments
    return not envs or any(e in envs for e in change.environments)


def _get(request: Request, found: Caller, change_id: int) -> ChangeRecord:
    change = store_of(request).get_change(change_id)
    if change is None or not _visible(found, change):
        raise HTTPException(404, f"no change CHG-{change_id}")
    return change


@router.post("", **guarded(Role.OPERATOR), status_code=201)
def submit(
    body: Submit, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Plan the campaign against the stored inventory and submit its change as the caller."""
    record = submit_campaign(
        store_of(request), body.file_name, body.campaign, found.grant.user, _now(),
        source=found.actor.source, environments=found.grant.environments,
        emergency=body.emergency, title=body.title,
    )  # fmt: skip
    return record.model_dump(mode="json")


@router.get("", **guarded(Role.VIEWER))
def changes(request: Request, found: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
    """Every change the caller may see, oldest first, in summary."""
    return [
        {
            "id": c.id,
            "label": c.label,
            "state": c.state.value,
            "campaign": c.campaign,
            "plan_hash": c.plan_hash,
            "requester": c.requester,
            "risk": c.risk.level,
            "environments": list(c.environments),
            "created_at": c.created_at.isoformat(),
        }  # fmt: skip
        for c in store_of(request).changes()
        if _visible(found, c)
    ]


@router.get("/{change_id}", **guarded(Role.VIEWER))
def change(
    change_id: int, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """One change record in full: risk, schedule, assets, rollback plan, approvals, history."""
    return _get(request, found, change_id).model_dump(mode="json")


@router.post("/{change_id}/approve", **guarded(Role.APPROVER))
def approve(
    change_id: int, body: Approve, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Approve as the caller (never the requester) the plan hash the caller reviewed."""
    current = _get(request, found, change_id)
    found.require(Role.APPROVER, current.environments)
    record = approve_change(
        store_of(request), change_id, found.grant.user, _now(), body.comment,
        source=found.actor.source, plan_hash=body.plan_hash,
    )  # fmt: skip
    return record.model_dump(mode="json")


@router.post("/{change_id}/reject", **guarded(Role.APPROVER))
def reject(
    change_id: int, body: Reject, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Reject as the caller (never the requester); the change closes."""
    current = _get(request, found, change_id)
    found.require(Role.APPROVER, current.environments)
    record = reject_change(
        store_of(request), change_id, found.grant.user, _now(), body.reason,
        source=found.actor.source,
    )  # fmt: skip
    return record.model_dump(mode="json")
