"""Runs of a plan: start, drive, pause, resume, abort, roll back, and report status.

A run's state lives in the store; a person's request (pause, abort, rollback) is a state
change another process makes, which the runner reads between steps. Everything the engine
did is in the run's journal, so status is computed by replaying it through the machine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import Progress, Record, UnitState, evaluate
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import Drivers, StepExecutor
from patchwarden.engine.store_journal import StoreJournal
from patchwarden.errors import InputError
from patchwarden.store import RunRecord, Store

__all__ = [
    "REQUESTS",
    "RunStatus",
    "WaveStatus",
    "drive",
    "final_state",
    "load_plan",
    "request",
    "run_status",
    "start_run",
]

# run state -> the machine's control; requests move a run between these states.
_CONTROL = {
    "running": "",
    "pausing": "pause",
    "paused": "pause",
    "aborting": "abort",
    "rolling_back": "rollback",
    "rolled_back": "rollback",
    "aborted": "abort",
}
REQUESTS = {
    "pause": "pausing",
    "resume": "running",
    "abort": "aborting",
    "rollback": "rolling_back",
}
_ENDED = frozenset({"completed", "completed_with_failures", "stopped", "aborted", "rolled_back"})


def load_plan(store: Store, run: RunRecord) -> Plan:
    """The plan a run executes, as approved and stored."""
    record = store.get_plan(run.plan_hash)
    if record is None:
        raise InputError(f"run {run.id}: its plan {run.plan_hash[:12]} is not in the store")
    plan = Plan.model_validate(record.data)
    if plan.digest() != run.plan_hash:
        raise InputError(f"run {run.id}: stored plan does not match its hash; refusing to run it")
    return plan


def start_run(store: Store, plan: Plan, at: datetime) -> RunRecord:
    """Save the plan (idempotent) and open a run of it."""
    store.save_plan(plan.digest(), plan.campaign, plan.model_dump(mode="json"))
    return store.create_run(plan.digest(), state="running", started_at=at)


def final_state(progress: Progress, control: str) -> str:
    """The run's state once the runner stops."""
    if not progress.done:
        return "paused"
    if control == "rollback":
        return "rolled_back"
    if control == "abort":
        return "aborted"
    if progress.stopped:
        return "stopped"
    failed = progress.count(UnitState.FAILED) + progress.count(UnitState.ROLLED_BACK)
    return "completed_with_failures" if failed else "completed"


def drive(
    store: Store,
    run: RunRecord,
    plan: Plan,
    drivers: Drivers,
    on_progress: Callable[[Progress], None] | None = None,
    extra_summary: Callable[[], dict[str, Any]] | None = None,
) -> tuple[Progress, str]:
    """Run (or resume) a run to its end or to a pause; returns the progress and final state."""
    journal = StoreJournal(store, run.id)
    last = {"control": _CONTROL.get(run.state, "")}

    def control() -> str:
        current = store.get_run(run.id)
        state = current.state if current is not None else "running"
        last["control"] = _CONTROL.get(state, "")
        return last["control"]

    runner = Runner(
        plan, journal, StepExecutor(drivers), drivers.clock, on_progress, control=control
    )
    progress = asyncio.run(runner.run())
    state = final_state(progress, last["control"])
    summary: dict[str, Any] = {
        "units": {s.value: progress.count(s) for s in UnitState if progress.count(s)}
    }
    if extra_summary is not None:
        summary.update(extra_summary())
    store.set_run_state(
        run.id, state, finished_at=drivers.clock.now() if state in _ENDED else None, summary=summary
    )
    return progress, state


def request(store: Store, run_id: str, what: str) -> RunRecord:
    """Ask a run to pause, resume, abort or roll back."""
    if what not in REQUESTS:
        raise InputError(f"unknown request {what!r}; use one of {', '.join(REQUESTS)}")
    run = store.get_run(run_id)
    if run is None:
        raise InputError(f"no run {run_id!r} (see `patchwarden status`)")
    if run.state in _ENDED and what != "rollback":
        raise InputError(f"run {run_id} has ended ({run.state}); nothing to {what}")
    if what == "resume":
        # A person looked at the held steps (a marginal canary): let them run again.
        last: dict[str, str] = {}
        for record in store.events(run_id):
            last[record.step_id] = record.event
        for step_id, kind in last.items():
            if kind == "held":
                store.append_event(run_id, step_id, "released", {"by": "resume"})
    return store.set_run_state(run_id, REQUESTS[what])


@dataclass(frozen=True)
class WaveStatus:
    """One wave's progress."""

    wave: str
    env: str
    strategy: str
    units: int
    counts: dict[str, int]
    in_flight: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunStatus:
    """A run as a person wants to see it."""

    run: RunRecord
    plan: Plan
    progress: Progress
    waves: tuple[WaveStatus, ...]
    failures: tuple[tuple[str, str], ...]
    analyses: tuple[dict[str, Any], ...] = field(default=())
    waiting: tuple[tuple[str, str], ...] = field(default=())
    """Steps held for a person, with why."""


def run_status(store: Store, run_id: str | None = None) -> RunStatus:
    """Replay a run's journal (the latest run by default) into its status."""
    run = store.get_run(run_id) if run_id else store.latest_run()
    if run is None:
        raise InputError(
            f"no run {run_id!r}" if run_id else "no run yet (start one with `patchwarden apply`)"
        )
    plan = load_plan(store, run)
    events = store.events(run.id)
    records = [Record(e.step_id, e.event, e.payload) for e in events]
    started = {r.step_id for r in records if r.event == "started"}
    ended = {r.step_id for r in records if r.event in ("succeeded", "failed")}
    in_flight = frozenset(started - ended)
    progress = evaluate(plan, records, in_flight, _CONTROL.get(run.state, ""))
    waves = []
    for wave in plan.waves:
        ids = [u.id for b in wave.batches for u in b.units]
        counts = Counter(progress.units[i].value for i in ids)
        flying = tuple(sorted(s for s in in_flight if any(s.startswith(i + "/") for i in ids)))
        waves.append(WaveStatus(wave.id, wave.env, wave.strategy, len(ids), dict(counts), flying))
    failures = tuple(
        (r.step_id, str(r.payload.get("error", ""))) for r in records if r.event == "failed"
    )
    analyses = tuple(
        {"step": r.step_id, **r.payload["analysis"]}
        for r in records
        if r.event == "observed" and "analysis" in r.payload
    )
    reasons = {r.step_id: str(r.payload.get("reason", "")) for r in records if r.event == "held"}
    waiting = tuple((s, reasons.get(s, "")) for s in progress.waiting)
    return RunStatus(run, plan, progress, tuple(waves), failures, analyses, waiting)
