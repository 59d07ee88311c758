"""``/api/v1/users`` and ``/api/v1/audit``: what an admin reads (users are made on the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from patchwarden.domain.identity import Role
from patchwarden.server.auth import guarded, store_of
from patchwarden.service.audit import AuditFilter, verify_trail
from patchwarden.service.scheduler import job_rows

__all__ = ["router"]

router = APIRouter(tags=["admin"])


@router.get("/users", **guarded(Role.ADMIN))
def users(request: Request) -> list[dict[str, Any]]:
    """Users with role, environments and state (never a password hash)."""
    return [
        {
            "name": u.name,
            "role": u.role,
            "environments": list(u.environments),
            "disabled": u.disabled,
            "created_at": u.created_at.isoformat(),
        }
        for u in store_of(request).accounts.users()
    ]


@router.get("/jobs", **guarded(Role.ADMIN))
def jobs(request: Request) -> list[dict[str, Any]]:
    """The scheduler's jobs: next due time, who runs one now, last outcome, failures in a row."""
    return job_rows(store_of(request))


@router.get("/audit", **guarded(Role.ADMIN))
def audit(
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[dict[str, Any]]:
    """Audit entries, oldest first, filtered as ``patchwarden audit show`` filters them.

    ``action`` is a prefix (``change.``); ``since``/``until`` are ISO 8601 with a zone.
    The last ``limit`` matching entries are returned.
    """
    where = AuditFilter(actor, action, object_type, object_id, since, until)
    entries = store_of(request).audit.entries(where)[-limit:]
    return [e.model_dump(mode="json") for e in entries]


@router.get("/audit/verify", **guarded(Role.ADMIN))
def verify(request: Request) -> dict[str, Any]:
    """Check the audit chain: 200 with its head, or 409 naming each broken entry."""
    report = verify_trail(store_of(request))
    head = report.head
    return {"entries": report.entries, "head": head.model_dump(mode="json") if head else None}
