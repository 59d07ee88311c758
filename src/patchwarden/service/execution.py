"""Carrying out a run: open it (or take it up again), drive it, close its change.

The use cases behind ``apply``, ``resume`` and a rollback of an idle run, for any front end:
they take plain values and return values; printing and exit codes are the caller's.

A run records in its summary, before its first step, what it needs to be taken up again
after a crash: the simulated estate (seed, inventory, state) or the real inventory files,
and the change it carries out. ``resume`` rebuilds the same drivers from that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from patchwarden.domain.change import ACTIVE_STATES, ChangeRecord
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan
from patchwarden.engine.lifecycle import RunState
from patchwarden.engine.machine import Progress
from patchwarden.engine.steps import Drivers
from patchwarden.errors import InputError, RunBusy, UsageError
from patchwarden.planning.windows import may_start
from patchwarden.service.apply import (
    PreparedPlan,
    authorize,
    prepare_plan,
    sim_drivers_for_run,
)
from patchwarden.service.audit import Actor, cli_actor
from patchwarden.service.change import ChangeNotApproved, finish_change, start_change
from patchwarden.service.inputs import Origin, choose_inventory
from patchwarden.service.lease import Lease, take_run
from patchwarden.service.real import (
    RealRun,
    load_real_inventory,
    real_drivers_for,
    real_inventory_files,
    real_summary,
)
from patchwarden.service.replay import load_plan, run_state, stored_plan
from patchwarden.service.runs import drive, request, start_run
from patchwarden.store import RunRecord, Store

__all__ = [
    "Resumption",
    "RunDrivers",
    "RunSetup",
    "asset_sites",
    "begin_apply",
    "begin_change_run",
    "begin_resume",
    "carry_out",
    "change_outcome",
    "is_emergency",
    "roll_back",
    "run_drivers",
]


@dataclass(frozen=True)
class RunSetup:
    """A run ready to drive, held by this process: plan, drivers, what its summary records."""

    run: RunRecord
    plan: Plan
    drivers: Drivers
    lease: Lease
    summary: Callable[[], dict[str, Any]]
    """What the run's summary records besides unit counts (re-read when the run stops)."""
    change: int | None = None
    """The id of the change the run carries out, closed when the run ends."""
    approved: ChangeRecord | None = None
    """The change as approved, for ``apply`` to show who approved it."""
    sim: bool = True
    emergency: bool = False
    """The run carries out an approved emergency change: it may start outside windows."""
    sites: Mapping[str, str] = field(default_factory=dict)
    """Each asset's site (its ``site`` tag), for assets that name one."""
    close: Callable[[], Awaitable[None]] | None = None
    """Releases what the drivers opened (a real run's SSH connections), in the loop they ran in."""


# run state -> change outcome; a pause leaves the change in progress.
_CHANGE_OUTCOME: dict[RunState, Literal["completed", "rolled_back", "failed"]] = {
    RunState.COMPLETED: "completed",
    RunState.ROLLED_BACK: "rolled_back",
    RunState.ABORTED: "rolled_back",
}


def change_outcome(state: RunState) -> Literal["completed", "rolled_back", "failed"] | None:
    """How a run's end closes its change; ``None`` while the run has not ended."""
    if not state.ended:
        return None
    return _CHANGE_OUTCOME.get(state, "failed")


def begin_apply(
    store: Store,
    source: Path,
    inventory_files: Sequence[Path],
    *,
    sim: bool,
    seed: int,
    speed: float,
    now: datetime,
    user: str,
    actor: Actor | None = None,
) -> RunSetup:
    """Compile (or load) a plan, check its change and window for real work, open its run.

    ``actor`` is who the audit trail names (the command line's user on this machine if
    not given).

    Raises:
        UsageError: a real run without an inventory.
        ChangeNotApproved: real work on a plan no approved change pins.
        InputError: bad input files, or outside every maintenance window.
    """
    if not sim and not inventory_files:
        raise UsageError("--real needs --inventory: the hosts to patch and how to reach them")
    prepared = prepare_plan(store, source, inventory_files, now)
    approved = None
    real_run = None
    if not sim:
        # Real work: the approved change's plan, inside a maintenance window, or nothing.
        prepared, approved = authorize(store, prepared, now)
        # Drivers before anything is recorded: a step no configured driver can carry out
        # is refused here, naming the asset and the key to add.
        # A cluster that would lose its quorum is refused here too, with the reason.
        real_run = real_drivers_for(prepared.inventory_files, prepared.plan, starting=True)
    return _open_run(
        store, prepared, approved, real_run, seed=seed, speed=speed, now=now, user=user,
        actor=actor or cli_actor(user),
    )  # fmt: skip


def begin_change_run(
    store: Store,
    change_id: int,
    *,
    sim: bool,
    seed: int,
    speed: float,
    now: datetime,
    actor: Actor,
    inventory_files: Sequence[str] = (),
) -> RunSetup:
    """Open a run of an approved change: the plan it pins, as stored when it was submitted.

    What a server runs: no campaign is compiled anew, so what runs is exactly what the
    approvers reviewed. On the simulated estate (the stored inventory, or the demo's when
    none is stored) it touches nothing real and leaves the change as it is, as
    ``apply --sim`` does. On the real hosts (``inventory_files``: the server's inventory,
    with how to reach each host) it must be inside a maintenance window of the plan
    unless the change is an approved emergency one, and it moves the change in progress,
    as ``apply --real`` does.

    Raises:
        InputError: no such change, or (real) outside every maintenance window.
        ChangeNotApproved: the change is not approved (or has already closed).
        UsageError: a real run and no inventory files to reach the hosts.
    """
    change = store.get_change(change_id)
    if change is None:
        raise InputError(f"no change CHG-{change_id} (see `patchwarden change list`)")
    if change.state not in ACTIVE_STATES:
        raise ChangeNotApproved(
            f"{change.label} is {change.state.value}; only an approved change runs"
        )
    plan = stored_plan(store, change.plan_hash, change.label)
    real_run = None
    if sim:
        chosen = choose_inventory(store, ())
        prepared = PreparedPlan(plan, chosen.inventory, (), None, chosen.origin)
        approved = None
    else:
        if not inventory_files:
            raise UsageError(
                "a real run needs the inventory that says how to reach each host; "
                "start the server with `patchwarden serve --inventory FILE`"
            )
        allowed, why = may_start(now, plan.windows, change)
        if not allowed:
            raise InputError(f"not starting: {why}")
        real_run = real_drivers_for(inventory_files, plan, starting=True)
        inventory = load_real_inventory(list(inventory_files)).inventory
        prepared = PreparedPlan(plan, inventory, tuple(inventory_files))
        approved = change
    return _open_run(
        store, prepared, approved, real_run, seed=seed, speed=speed, now=now, user=actor.name,
        actor=actor,
    )  # fmt: skip


def _open_run(
    store: Store,
    prepared: PreparedPlan,
    approved: ChangeRecord | None,
    real_run: RealRun | None,
    *,
    seed: int,
    speed: float,
    now: datetime,
    user: str,
    actor: Actor,
) -> RunSetup:
    """Open the run of a prepared plan and record what a resume needs, before any step."""
    if real_run is not None and approved is not None:
        start_change(store, prepared.plan, actor.name, now, source=actor.source)
    plan = prepared.plan
    run = start_run(store, plan, now, actor=actor)
    lease = take_run(store, run.id, user)  # a new run: nobody else can hold it yet
    if real_run is None:
        drivers, estate = sim_drivers_for_run(prepared.inventory, seed, speed, now, None)
        recorded = {
            "seed": seed,
            "inventory": list(prepared.inventory_files),
            "origin": prepared.origin.value,
        }

        def sim_summary() -> dict[str, Any]:
            return {"sim": {**recorded, "state": estate.snapshot()}}

        # Recorded before the first step: a runner killed mid-run leaves what resume needs.
        run = store.set_run_state(run.id, run.state, summary=sim_summary())
        sites = asset_sites(prepared.inventory)
        return RunSetup(run, plan, drivers, lease, sim_summary, sites=sites)
    change = approved.id if approved is not None else None
    real = {**real_summary(prepared.inventory_files), "change": change}
    run = store.set_run_state(run.id, run.state, summary=real)
    return RunSetup(
        run,
        plan,
        real_run.drivers,
        lease,
        lambda: real,
        change,
        approved,
        sim=False,
        emergency=is_emergency(approved),
        sites=asset_sites(prepared.inventory),
        close=real_run.real.close,
    )


@dataclass(frozen=True)
class Resumption:
    """What ``resume`` found: a run that had ended already, or one to drive on."""

    run: RunRecord
    setup: RunSetup | None
    """``None`` when the run had ended: nothing to do (and not an error)."""


def begin_resume(
    store: Store,
    run: RunRecord,
    *,
    speed: float,
    now: datetime,
    user: str,
    actor: Actor | None = None,
) -> Resumption:
    """Take a paused or interrupted run up again, on the estate it ran on.

    A run that has ended (a crash came after its last step) is answered as it is, so a
    supervisor that always resumes after a crash sees success. Otherwise this process
    takes the run's lease first, then asks the run to resume (releasing steps held for a
    person); a run being aborted or rolled back carries on as that.

    Raises:
        RunBusy: another process drives the run.
        UsageError: the run recorded no estate to resume on.
    """
    if run_state(run).ended:
        return Resumption(run, None)
    lease = take_run(store, run.id, user)
    try:
        run = request(store, run.id, "resume", actor=actor or cli_actor(user)).run
        return Resumption(run, _setup(store, run, lease, speed, now))
    except BaseException:
        lease.release()
        raise


def roll_back(
    store: Store,
    run_id: str,
    *,
    speed: float,
    now: datetime,
    user: str,
    actor: Actor | None = None,
) -> tuple[RunRecord, RunSetup | None]:
    """Ask a run to roll back; returns the run and, when nobody drives it, a setup to drive.

    A run another process drives rolls back there (its runner reads the request between
    steps); a paused or ended run has no runner, so the caller drives the rollback.

    Raises:
        InputError: an unknown run, or one rolled back already.
    """
    run = request(store, run_id, "rollback", actor=actor or cli_actor(user)).run
    try:
        lease = take_run(store, run.id, user)
    except RunBusy:
        return run, None
    try:
        return run, _setup(store, run, lease, speed, now)
    except BaseException:
        lease.release()
        raise


@dataclass(frozen=True)
class RunDrivers:
    """An existing run's plan and drivers, rebuilt from what its summary recorded."""

    plan: Plan
    drivers: Drivers
    summary: Callable[[], dict[str, Any]]
    change: int | None = None
    sim: bool = True
    sites: Mapping[str, str] = field(default_factory=dict)
    """Each asset's site (its ``site`` tag), for assets that name one."""
    emergency: bool = False
    """The run carries out an approved emergency change: it may start outside windows."""
    close: Callable[[], Awaitable[None]] | None = None
    """Releases what the drivers opened (a real run's SSH connections)."""


def asset_sites(inventory: Inventory) -> dict[str, str]:
    """Each asset's site, from its ``site`` tag; assets without one are left out."""
    return {a.id: a.tags["site"] for a in inventory.assets if a.tags.get("site")}


def _setup(store: Store, run: RunRecord, lease: Lease, speed: float, now: datetime) -> RunSetup:
    """The drivers of an existing run, held by this process's lease."""
    found = run_drivers(store, run, speed=speed, now=now)
    return RunSetup(
        run, found.plan, found.drivers, lease, found.summary, found.change, sim=found.sim,
        sites=found.sites, emergency=found.emergency, close=found.close,
    )  # fmt: skip


def run_drivers(store: Store, run: RunRecord, *, speed: float, now: datetime) -> RunDrivers:
    """The plan and drivers of an existing run, rebuilt from what its summary recorded.

    What ``resume`` drives with, and what a Temporal worker builds for a run it is handed
    a step of (a worker takes no lease: the workflow is the run's one driver).

    Raises:
        UsageError: the run recorded no estate to run on.
    """
    plan = load_plan(store, run)
    summary = run.summary or {}
    real_files = real_inventory_files(summary)
    if real_files is not None:
        change = summary.get("change")
        real = {**real_summary(real_files), "change": change}
        built = real_drivers_for(real_files, plan)
        record = store.get_change(change) if isinstance(change, int) else None
        return RunDrivers(
            plan, built.drivers, lambda: real, change, sim=False, emergency=is_emergency(record),
            close=built.real.close,
        )  # fmt: skip
    sim_state = summary.get("sim")
    if sim_state is None:
        raise UsageError(f"run {run.id} has no recorded estate (sim or real) to resume on")
    # The inventory it started on, chosen by the same rule (the demo's, if it was).
    origin = sim_state.get("origin", Origin.DEMO.value)
    files = sim_state.get("inventory", [])
    chosen = choose_inventory(store, files, demo=not files and origin == Origin.DEMO.value)
    drivers, estate = sim_drivers_for_run(
        chosen.inventory,
        sim_state["seed"],
        speed,
        now,
        sim_state["state"],
    )
    return RunDrivers(
        plan,
        drivers,
        lambda: {"sim": {**sim_state, "state": estate.snapshot()}},
        sites=asset_sites(chosen.inventory),
    )


def is_emergency(change: ChangeRecord | None) -> bool:
    """Whether ``change`` is an approved (or running) emergency change: windows do not hold it."""
    return change is not None and change.emergency and change.state in ACTIVE_STATES


def carry_out(
    store: Store,
    setup: RunSetup,
    user: str,
    on_progress: Callable[[Progress], None] | None = None,
    *,
    source: str = "",
) -> RunState:
    """Drive a run to its end or a pause, give up its lease, close its change if it ended.

    ``user`` and ``source`` are who the change's closing names in the audit trail.
    """
    try:
        _, state = drive(
            store,
            setup.run,
            setup.plan,
            setup.drivers,
            on_progress,
            extra_summary=setup.summary,
            lost=setup.lease.lost,
            emergency=setup.emergency,
            close=setup.close,
        )
    finally:
        setup.lease.release()
    if setup.lease.lost():
        raise RunBusy(
            f"run {setup.run.id} was taken over by another process while this one stalled "
            "past its lease; this one started no new step since"
        )
    outcome = change_outcome(state)
    if setup.change is not None and outcome is not None:
        finish_change(
            store, setup.change, outcome, user, datetime.now(UTC), note=f"run {setup.run.id}",
            source=source,
        )  # fmt: skip
    return state
