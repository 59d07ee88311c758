"""``/api/v1/runs``: runs and where each stands; pause or abort one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.runs import request as request_run
from patchwarden.service.runs import run_status
from patchwarden.store import RunRecord

__all__ = ["router"]

router = APIRouter(prefix="/runs", tags=["runs"])


def _run(r: RunRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "plan_hash": r.plan_hash,
        "state": r.state,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
    }


def _envs(request: Request, run: RunRecord) -> list[str]:
    plan = store_of(request).get_plan(run.plan_hash)
    waves = plan.data.get("waves", []) if plan else []
    return sorted({str(w.get("env", "")) for w in waves})


def _visible(found: Caller, envs: list[str]) -> bool:
    mine = found.grant.environments
    return not mine or any(e in mine for e in envs)


@router.get("", **guarded(Role.VIEWER))
def runs(request: Request, found: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
    """Every run the caller may see, oldest first."""
    return [
        {**_run(r), "environments": envs}
        for r in store_of(request).runs()
        if _visible(found, envs := _envs(request, r))
    ]


@router.get("/{run_id}", **guarded(Role.VIEWER))
def status(
    run_id: str, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Where a run stands: per wave, failures, steps waiting for a person."""
    record = store_of(request).get_run(run_id)
    if record is None or not _visible(found, _envs(request, record)):
        raise HTTPException(404, f"no run {run_id!r}")
    s = run_status(store_of(request), run_id)
    return {
        **_run(s.run),
        "campaign": s.plan.campaign,
        "waves": [
            {
                "wave": w.wave,
                "env": w.env,
                "strategy": w.strategy,
                "units": w.units,
                "counts": w.counts,
                "in_flight": list(w.in_flight),
            }  # fmt: skip
            for w in s.waves
        ],
        "failures": [{"step": step, "error": why} for step, why in s.failures],
        "waiting": [{"step": step, "why": why} for step, why in s.waiting],
    }


@router.post("/{run_id}/{action}", **guarded(Role.OPERATOR))
def control(
    run_id: str,
    action: Literal["pause", "abort"],
    request: Request,
    found: Annotated[Caller, Depends(caller)],
) -> dict[str, Any]:
    """Ask a run to pause (start no new unit) or abort (skip what has not started)."""
    record = store_of(request).get_run(run_id)
    if record is None or not _visible(found, envs := _envs(request, record)):
        raise HTTPException(404, f"no run {run_id!r}")
    found.require(Role.OPERATOR, envs)
    moved = request_run(store_of(request), run_id, action, actor=found.actor)
    return {**_run(moved.run), "verdict": moved.transition.verdict.value}
