"""``/api/v1/findings``: the latest assessment's findings, filtered, paged, JSON or CSV."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.findings import FindingFilter, find, to_csv

__all__ = ["router"]

router = APIRouter(prefix="/findings", tags=["findings"])


@router.get("", **guarded(Role.VIEWER), response_model=None)
def findings(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    severity: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    env: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    decision: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    asset: str | None = None,
    advisory: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 50,
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:
    """Findings of the latest assessment in the caller's environments.

    Repeat a filter to allow several values (``?severity=critical&severity=high``).
    ``format=csv`` returns the page as CSV with a header line.
    """
    result = find(
        store_of(request),
        FindingFilter(tuple(severity), tuple(env), tuple(decision), asset, advisory),
        environments=found.grant.environments,
        page=page,
        per_page=per_page,
    )
    if format == "csv":
        return Response(to_csv(result.items), media_type="text/csv; charset=utf-8")
    return {
        "assessment_id": result.assessment_id,
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "items": [asdict(r) for r in result.items],
    }
