"""``/api/v1/runs``: start a run of an approved change, follow it live, control it.

A run started here is the same as ``patchwarden apply``'s: the same service functions
open it, journal every step and close its change; it is driven in a thread of the server
(see :mod:`patchwarden.server.workers`). Its progress streams as server-sent events from
the journal (:mod:`patchwarden.server.events`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.server.events import follow_run, resume_point
from patchwarden.server.workers import RunWorkers
from patchwarden.service.execution import begin_change_run, begin_resume, roll_back
from patchwarden.service.runs import RunStatus, driven_by_temporal, run_status
from patchwarden.service.runs import request as request_run
from patchwarden.service.temporal import control_on_temporal
from patchwarden.service.temporal_status import WorkflowView, workflow_view
from patchwarden.store import RunRecord

__all__ = ["StartRun", "router"]

router = APIRouter(prefix="/runs", tags=["runs"])

SIM_SPEED = 3000.0
"""The simulated clock's speed-up for resumed and rolled-back runs (as the CLI's)."""


class StartRun(BaseModel):
    """Which approved change to run, and where: the simulated estate or the real hosts."""

    change: Annotated[int, Field(ge=1, description="The approved change's id (CHG-n).")]
    mode: Literal["sim", "real"] = "sim"
    seed: int = 0
    speed: Annotated[float, Field(gt=0, le=1_000_000)] = SIM_SPEED


def _workers(request: Request) -> RunWorkers:
    workers: RunWorkers = request.app.state.workers
    return workers


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
    """Where a run stands: per wave, failures, steps waiting for a person.

    A run Temporal drives also has ``temporal``: its workflow as Temporal sees it (see
    :class:`~patchwarden.service.temporal_status.WorkflowView`), e.g. steps handed to a
    site's queue that no worker has started; ``null`` for a run of the local runner.
    """
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
        "service_restarts": [r.as_json() for r in s.restarts],
        "temporal": view.as_json() if (view := _workflow(s)) else None,
    }


def _workflow(s: RunStatus) -> WorkflowView | None:
    return workflow_view(s.run, [step for w in s.waves for step in w.in_flight])


@router.post("", **guarded(Role.OPERATOR), status_code=202)
def start(
    body: StartRun, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Run an approved change's plan (exactly the one approved); answers once it is open.

    ``mode=sim`` runs it on the simulated estate (nothing real is touched, the change is
    left as it is); ``mode=real`` on the hosts of the server's inventory, inside a
    maintenance window, moving the change in progress and closing it with the outcome.
    Follow it with ``GET /runs/{id}/events``.
    """
    store = store_of(request)
    change = store.get_change(body.change)
    if change is None or not (
        not found.grant.environments
        or any(e in found.grant.environments for e in change.environments)
    ):
        raise HTTPException(404, f"no change CHG-{body.change}")
    found.require(Role.OPERATOR, change.environments)
    setup = begin_change_run(
        store, body.change, sim=body.mode == "sim", seed=body.seed, speed=body.speed,
        now=datetime.now(UTC).replace(microsecond=0), actor=found.actor,
        inventory_files=request.app.state.real_inventory,
    )  # fmt: skip
    _workers(request).start(setup, found.actor)
    return {**_run(setup.run), "mode": body.mode, "change": body.change}


@router.get("/{run_id}/events", **guarded(Role.VIEWER), response_class=StreamingResponse)
async def events(
    run_id: str,
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    """The run's journal live, as server-sent events (``text/event-stream``).

    Events: ``journal`` (one per journal entry, ``id`` = its ``seq``), ``status`` (state
    and unit counts after each batch), ``end`` (the run has ended; the stream closes).
    Reconnecting with ``Last-Event-ID`` (or ``?after=SEQ``) carries on after that entry.
    """
    store = store_of(request)
    record = store.get_run(run_id)
    if record is None or not _visible(found, _envs(request, record)):
        raise HTTPException(404, f"no run {run_id!r}")
    stream = follow_run(store, run_id, resume_point(last_event_id, after), request.is_disconnected)
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


@router.post("/{run_id}/{action}", **guarded(Role.OPERATOR))
def control(
    run_id: str,
    action: Literal["pause", "abort", "resume", "rollback"],
    request: Request,
    found: Annotated[Caller, Depends(caller)],
) -> dict[str, Any]:
    """Pause (start no new unit), abort (skip what has not started), resume, or roll back.

    Resume and a rollback of a run nobody drives (paused, ended, or its server gone) are
    driven here, in the background; a run driven elsewhere takes the request at its next
    step. A run another live process holds is refused with 409. A run Temporal drives is
    never driven here: the request is signalled to its workflow (``workflow`` says how,
    see :class:`~patchwarden.service.temporal.TemporalControl`).
    """
    store = store_of(request)
    record = store.get_run(run_id)
    if record is None or not _visible(found, envs := _envs(request, record)):
        raise HTTPException(404, f"no run {run_id!r}")
    found.require(Role.OPERATOR, envs)
    now = datetime.now(UTC)
    actor = found.actor
    if driven_by_temporal(store, run_id):
        done = control_on_temporal(store, run_id, action, actor=actor, now=now)
        verdict = {"verdict": done.verdict} if done.verdict else {}
        return {**_run(done.run), **verdict, "driving": False, "workflow": done.how}
    if action == "resume":
        resumed = begin_resume(
            store, record, speed=SIM_SPEED, now=now, user=actor.name, actor=actor
        )
        if resumed.setup is not None:
            _workers(request).start(resumed.setup, actor)
        return {**_run(resumed.run), "driving": resumed.setup is not None}
    if action == "rollback":
        run, setup = roll_back(
            store, run_id, speed=SIM_SPEED, now=now, user=actor.name, actor=actor
        )
        if setup is not None:
            _workers(request).start(setup, actor)
        return {**_run(run), "driving": setup is not None}
    moved = request_run(store, run_id, action, actor=actor)
    return {**_run(moved.run), "verdict": moved.transition.verdict.value}
