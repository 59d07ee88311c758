"""Runs of a plan: start, drive, pause, resume, abort, roll back, and report status.

A run's state lives in the store; a person's request (pause, abort, rollback) is a state
change another process makes, which the runner reads between steps. Everything the engine
did is in the run's journal, so status is computed by replaying it through the machine.

What it returns is the engine's: a run's :class:`RunState`, the machine's :class:`Progress`
and :class:`UnitState` (with :data:`TERMINAL`), exported here for front ends.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchwarden.domain.plan import Plan
from patchwarden.engine.lifecycle import RunCommand, RunState, Transition, Verdict, stop, transition
from patchwarden.engine.machine import TERMINAL, Progress, Record, UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import Drivers, StepExecutor
from patchwarden.engine.store_journal import StoreJournal
from patchwarden.errors import InputError
from patchwarden.planning.windows import PlanCalendar
from patchwarden.service.audit import Actor, note
from patchwarden.service.replay import load_plan, run_state, trace_run
from patchwarden.store import RunRecord, Store

__all__ = [
    "TERMINAL",
    "GateResult",
    "Progress",
    "Requested",
    "RunState",
    "RunStatus",
    "ServiceRestarts",
    "UnitState",
    "WaitingFor",
    "WaveStatus",
    "drive",
    "driven_by_temporal",
    "load_plan",
    "request",
    "run_status",
    "service_restarts",
    "start_run",
]

# At most this many times a runner starts again on its own when a person's request came
# after its last look at the run (each request moves the run on, so this never loops long).
_RESTARTS = 5


def driven_by_temporal(store: Store, run_id: str) -> bool:
    """Whether a Temporal workflow drives the run (``apply --engine temporal`` opened it)."""
    run = store.get_run(run_id)
    return run is not None and isinstance((run.summary or {}).get("temporal"), dict)


def start_run(store: Store, plan: Plan, at: datetime, *, actor: Actor | None = None) -> RunRecord:
    """Save the plan (idempotent) and open a run of it."""
    store.save_plan(plan.digest(), plan.campaign, plan.model_dump(mode="json"))
    started = note(
        actor or Actor("engine"), "run.start", "run", "", object_hash=plan.digest(),
        details={"campaign": plan.campaign},
    )  # fmt: skip
    return store.create_run(
        plan.digest(), state=RunState.RUNNING.value, started_at=at, audit=started
    )


async def _pass(runner: Runner, close: Callable[[], Awaitable[None]] | None) -> Progress:
    """One pass of the runner, then ``close`` in the same loop (its connections live there)."""
    try:
        return await runner.run()
    finally:
        if close is not None:
            await close()


def drive(
    store: Store,
    run: RunRecord,
    plan: Plan,
    drivers: Drivers,
    on_progress: Callable[[Progress], None] | None = None,
    extra_summary: Callable[[], dict[str, Any]] | None = None,
    *,
    lost: Callable[[], bool] | None = None,
    emergency: bool = False,
    close: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Progress, RunState]:
    """Run (or resume) a run to its end or to a pause; returns the progress and final state.

    The runner reads the run's state between steps, so a person's pause, abort or rollback
    (written by another process) takes effect at the next step. ``lost`` says this process
    no longer holds the run (see :mod:`patchwarden.service.lease`): it then starts nothing
    new, as if paused, and leaves the run's state to its new holder.

    New units start only inside the plan's maintenance windows (unless ``emergency``: the
    run carries out an approved emergency change), after each environment's soak and QA
    gate; the runner waits for them, journaling each wait (see ``engine.machine``).

    ``close`` releases what the drivers opened (a real run's SSH connections); it is
    awaited at the end of each pass of the runner, in that pass's event loop, so a
    long-lived process (the server) keeps no connection of a run that stopped.
    """
    journal = StoreJournal(store, run.id)
    seen = {"state": run_state(run)}

    def current() -> RunState:
        now = store.get_run(run.id)
        return run_state(now) if now is not None else seen["state"]

    def control() -> str:
        if lost is not None and lost():
            return RunState.PAUSING.control
        seen["state"] = current()
        return seen["state"].control

    saved = {"wait": ""}

    def progressed(progress: Progress) -> None:
        if on_progress is not None:
            on_progress(progress)
        wait = progress.wait
        if wait is not None and extra_summary is not None and wait.id != saved["wait"]:
            # About to wait (hours, days): what resume needs (a simulated estate's state)
            # is saved now, so a kill -9 during the wait loses nothing.
            saved["wait"] = wait.id
            store.set_run_summary(run.id, extra_summary())

    for _ in range(_RESTARTS):
        runner = Runner(
            plan,
            journal,
            StepExecutor(drivers),
            drivers.clock,
            progressed,
            control=control,
            calendar=PlanCalendar(plan.windows) if plan.windows else None,
            emergency=emergency,
        )
        progress = asyncio.run(_pass(runner, close))
        if lost is not None and lost():
            return progress, seen["state"]
        latest = current()
        if latest.control == seen["state"].control:
            break
        seen["state"] = latest  # a request came after the runner's last look: honour it
    state = stop(seen["state"], progress).state
    summary: dict[str, Any] = {
        "units": {s.value: progress.count(s) for s in UnitState if progress.count(s)}
    }
    if extra_summary is not None:
        summary.update(extra_summary())
    details: dict[str, Any] = {"state": state.value, **summary["units"]}
    if progress.waiting and not state.ended:
        details["waiting"] = list(progress.waiting)  # held for a person: told as run.held
    ended = note(
        Actor("engine"), "run.finish" if state.ended else "run.stop", "run", run.id,
        object_hash=run.plan_hash, details=details,
    )  # fmt: skip
    store.set_run_state(
        run.id,
        state.value,
        finished_at=drivers.clock.now() if state.ended else None,
        summary=summary,
        audit=ended,
    )
    return progress, state


@dataclass(frozen=True)
class Requested:
    """A request's answer: the run after it, and the transition that decided it."""

    run: RunRecord
    transition: Transition


def request(store: Store, run_id: str, what: str, *, actor: Actor | None = None) -> Requested:
    """Ask a run to pause, resume, abort or roll back (see ``engine.lifecycle``).

    Resuming releases the steps held for a person (they run again). Resuming a run that
    has ended changes nothing and is not an error: the answer's verdict says ``unchanged``.

    Raises:
        InputError: an unknown request or run, or one its state refuses (with why).
    """
    try:
        command = RunCommand(what)
    except ValueError:
        command = RunCommand.HOLD  # not a person's request: refused just below
    if not command.by_person:
        asks = ", ".join(c.value for c in RunCommand if c.by_person)
        raise InputError(f"unknown request {what!r}; use one of {asks}")
    run = store.get_run(run_id)
    if run is None:
        raise InputError(f"no run {run_id!r} (see `patchwarden status`)")
    moved = transition(run_state(run), command)
    if moved.verdict is Verdict.REFUSED:
        raise InputError(f"run {run_id}: cannot {what}: {moved.reason}")
    if command is RunCommand.RESUME and not moved.state.ended:
        # A person looked at the held steps (a marginal canary): let them run again.
        last: dict[str, str] = {}
        for event in store.events(run_id):
            last[event.step_id] = event.event
        for step_id, kind in last.items():
            if kind == "held":
                store.append_event(run_id, step_id, "released", {"by": "resume"})
    if moved.verdict is Verdict.MOVED:
        asked = note(
            actor or Actor("engine"), f"run.{command.value}", "run", run_id,
            object_hash=run.plan_hash, details={"state": moved.state.value},
        )  # fmt: skip
        run = store.set_run_state(run_id, moved.state.value, audit=asked)
    return Requested(run, moved)


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
    waiting_for: WaitingFor | None = None
    """What the run waits for before it starts more (a window, a soak, a QA gate)."""
    gates: tuple[GateResult, ...] = field(default=())
    """The promotion gates checked so far, in order."""
    restarts: tuple[ServiceRestarts, ...] = field(default=())
    """Per patch step that asked: the services restarted and those still needing it."""


@dataclass(frozen=True)
class ServiceRestarts:
    """What one patch step found of services running files its update replaced.

    ``pending`` is ``None`` when the host could not tell (no ``needrestart`` or
    ``needs-restarting``): unknown, never "nothing to restart".
    """

    step: str
    target: str
    restarted: tuple[str, ...]
    pending: tuple[str, ...] | None

    def as_json(self) -> dict[str, Any]:
        """The JSON shape status answers with (``still_needed`` is ``"unknown"`` or a list)."""
        return {
            "step": self.step,
            "target": self.target,
            "restarted": list(self.restarted),
            "still_needed": "unknown" if self.pending is None else list(self.pending),
        }


def service_restarts(
    records: Sequence[Record], targets: Mapping[str, str]
) -> tuple[ServiceRestarts, ...]:
    """The services each finished patch step restarted or left needing a restart.

    Read from the step's last ``succeeded`` record (``restarted``, ``services_to_restart``);
    steps whose record says nothing of services are left out.

    Example:
        >>> service_restarts([Record("u/patch", "succeeded", {"restarted": ["a.service"],
        ...     "services_to_restart": []})], {"u/patch": "h1"})
        (ServiceRestarts(step='u/patch', target='h1', restarted=('a.service',), pending=()),)
    """
    last: dict[str, Mapping[str, Any]] = {}
    for r in records:
        if r.event == "succeeded" and (
            "services_to_restart" in r.payload or "restarted" in r.payload
        ):
            last[r.step_id] = r.payload
    found = []
    for step_id, payload in last.items():
        pending = payload.get("services_to_restart", [])
        found.append(
            ServiceRestarts(
                step_id,
                targets.get(step_id, ""),
                tuple(map(str, payload.get("restarted", ()))),
                None if pending == "unknown" else tuple(map(str, pending)),
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class WaitingFor:
    """A window, soak or QA gate the run waits for; ``until`` is ``None`` for a gate check."""

    kind: str  # window | soak | gate
    reason: str
    until: datetime | None = None


@dataclass(frozen=True)
class GateResult:
    """One promotion gate's outcome: ``env`` entered, or held with the reason."""

    env: str
    result: str  # succeeded | failed | checking
    detail: str = ""


def _waiting_for(progress: Progress, in_flight: frozenset[str]) -> WaitingFor | None:
    """The wait the journal shows still running, or a QA gate being checked."""
    if progress.wait is not None:
        kind = "soak" if progress.wait.id.startswith("soak/") else "window"
        return WaitingFor(kind, progress.wait.reason, progress.wait.until)
    checking = sorted(s for s in in_flight if s.startswith("gate/"))
    if checking:
        env = checking[0].split("/", 1)[1]
        return WaitingFor("gate", f"checking the QA gate of {env}")
    return None


def _gate_results(records: Sequence[Record], in_flight: frozenset[str]) -> tuple[GateResult, ...]:
    last: dict[str, GateResult] = {}
    for r in records:
        if not r.step_id.startswith("gate/") or r.event not in ("succeeded", "failed"):
            continue
        env = r.step_id.split("/", 1)[1]
        detail = str(r.payload.get("error", "")) if r.event == "failed" else _gate_note(r.payload)
        last[env] = GateResult(env, r.event, detail)
    for step_id in sorted(s for s in in_flight if s.startswith("gate/")):
        env = step_id.split("/", 1)[1]
        last[env] = GateResult(env, "checking")
    return tuple(last.values())


def _gate_note(payload: Mapping[str, Any]) -> str:
    return (
        f"after {payload.get('after', '?')}: {payload.get('health_checked', 0)} target(s) "
        f"healthy, {payload.get('rescanned', 0)} re-scanned, "
        f"at most {payload.get('max_restarts_seen', 0)} restart(s)"
    )


def run_status(store: Store, run_id: str | None = None) -> RunStatus:
    """Replay a run's journal (the latest run by default) into its status."""
    run = store.get_run(run_id) if run_id else store.latest_run()
    if run is None:
        raise InputError(
            f"no run {run_id!r}" if run_id else "no run yet (start one with `patchwarden apply`)"
        )
    trace = trace_run(store, run)
    plan, records, progress, in_flight = trace.plan, trace.records, trace.progress, trace.in_flight
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
    return RunStatus(
        run,
        plan,
        progress,
        tuple(waves),
        failures,
        analyses,
        waiting,
        None if run_state(run).ended else _waiting_for(progress, in_flight),
        _gate_results(records, in_flight),
        service_restarts(records, {s.id: s.target for u in plan.units() for s in u.steps}),
    )
