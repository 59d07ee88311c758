"""``/api/v1/plans``: compile a campaign into a plan, and show a stored plan.

A compile is ``patchwarden plan`` on the server: the same loader (a bad campaign or
inventory text is 422 with every problem's file, line and field), the same inputs rule, the
same plan and hash. The server keeps the plan by its hash; ``GET /plans/{hash}`` shows it
as JSON, or as the runbook the command line prints (``text/plain``) or as Markdown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.plans import compile_plan, shown_plan
from patchwarden.service.runbook import render_markdown, render_plan

__all__ = ["Compile", "InventoryText", "router"]

router = APIRouter(prefix="/plans", tags=["plans"])

_TEXT = Annotated[str, Field(min_length=1, max_length=8_000_000)]


class InventoryText(BaseModel):
    """One inventory file, by the name its problems will carry."""

    file_name: Annotated[str, Field(min_length=1, max_length=255)]
    text: _TEXT


class Compile(BaseModel):
    """A campaign YAML to plan, and optionally the inventory and time to plan it against."""

    campaign: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    file_name: Annotated[str, Field(min_length=1, max_length=255)] = "campaign.yaml"
    inventory: Annotated[list[InventoryText], Field(max_length=100)] = []
    at: AwareDatetime | None = Field(
        None, description="Plan as of this time (default: now, to the minute)."
    )


_FORMATS = {"json": "application/json", "text": "text/plain", "markdown": "text/markdown"}


def _format(request: Request, given: str | None) -> str:
    """``?format=`` if given, else the first of the ``Accept`` header's types we serve."""
    if given is not None:
        return given
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        for name, served in _FORMATS.items():
            if media == served:
                return name
    return "json"


@router.post("", **guarded(Role.OPERATOR), status_code=201)
async def compile_(
    body: Compile, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Compile a campaign into a plan, keep it by its hash, and answer it with its runbook.

    The inventory is the texts given (validated as ``inventory validate`` does), else the
    stored inventory; advisories are the imported catalog. A problem in the campaign or an
    inventory text is 422 with each ``{file, line, field, message, hint}``; nothing is kept.
    An operator limited to some environments may compile only plans within them.
    """
    now = body.at or datetime.now(UTC).replace(second=0, microsecond=0)
    texts = [(t.file_name, t.text) for t in body.inventory]
    # Planning is CPU work and the store is synchronous: keep both off the event loop.
    compiled = await run_in_threadpool(
        lambda: compile_plan(
            store_of(request),
            body.file_name,
            body.campaign,
            now,
            found.actor,
            inventory=texts,
            environments=found.grant.environments,
        )  # fmt: skip
    )
    plan = compiled.build.plan
    return {
        "plan_hash": compiled.plan_hash,
        "campaign": plan.campaign,
        "environments": sorted({w.env for w in plan.waves}),
        "inventory": compiled.origin.value,
        "new": compiled.new,
        "warnings": list(compiled.warnings),
        "runbook": render_plan(plan, compiled.build.campaign.promotion.soak),
        "plan": plan.model_dump(mode="json"),
    }


@router.get(
    "/{plan_hash}",
    **guarded(Role.VIEWER),
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/plain": {"example": "Plan '2026-11 security'  hash 3f2a...\n"},
                "text/markdown": {},
            }
        }
    },
)
def show(
    plan_hash: str,
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    format: Literal["json", "text", "markdown"] | None = None,
) -> dict[str, Any] | Response:
    """A stored plan: JSON (the plan itself), or the runbook as text or Markdown.

    Choose with ``?format=json|text|markdown`` or the ``Accept`` header. A plan with no
    wave in the caller's environments is a 404, as if it did not exist.
    """
    plan = shown_plan(store_of(request), plan_hash, found.grant.environments)
    if plan is None:
        raise HTTPException(404, f"no plan {plan_hash[:12]!r}")
    chosen = _format(request, format)
    if chosen == "text":
        return Response(render_plan(plan), media_type="text/plain; charset=utf-8")
    if chosen == "markdown":
        return Response(render_markdown(plan), media_type="text/markdown; charset=utf-8")
    return plan.model_dump(mode="json")
