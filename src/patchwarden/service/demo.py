"""``patchwarden demo``: the whole path on the simulated estate, through the real code.

Load the built-in inventory, import the demo advisories, assess and decide, plan the demo
campaign, run it with the engine (journal in the store) against the simulated drivers,
re-scan, and write the report. Only the drivers are simulated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patchwarden.assess.assessment import Assessment, assess
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.domain.responsibility import owner_of
from patchwarden.drivers.sim import FailurePlan, ScaledClock, SimEstate
from patchwarden.engine.lifecycle import RunState, stop
from patchwarden.engine.machine import Progress, UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.engine.store_journal import StoreJournal
from patchwarden.planning.plan import plan_campaign
from patchwarden.report import write_report
from patchwarden.service.assessments import record_assessment
from patchwarden.service.reporting import RunTrace, build_report
from patchwarden.service.sim import estate_drivers
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory
from patchwarden.store import open_store

__all__ = ["DemoResult", "choose_failures", "rescan", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for the terminal summary and for tests."""

    report: dict[str, Path]
    plan: Plan
    run_id: str
    state: str
    before: Assessment
    after: Assessment
    progress: Progress
    failures: FailurePlan
    migrations: int


def choose_failures(plan: Plan, seed: int) -> FailurePlan:
    """One production web host whose patch breaks its service, picked by the seed.

    The demo shows what happens then: the health check fails, the host is rolled back
    to its previous versions and stays out of the pool only while it is unhealthy.
    """
    drained = sorted(
        u.target
        for w in plan.waves
        if w.env == plan.environments[-1]
        for b in w.batches
        for u in b.units
        if any(s.action is StepAction.DRAIN for s in u.steps)
    )
    if not drained:
        return FailurePlan()
    return FailurePlan(breaks_health=frozenset({drained[seed % len(drained)]}))


def rescan(inventory: Inventory, estate: SimEstate) -> Inventory:
    """The inventory with installed packages as the estate reports them now."""
    assets = tuple(
        a.model_copy(update={"packages": dict(estate.hosts[a.id].packages)})
        for a in inventory.assets
    )
    return inventory.model_copy(update={"assets": assets})


def run_demo(
    out_dir: Path,
    db_url: str,
    *,
    seed: int = 7,
    speed: float = 3000.0,
    inject_failures: bool = True,
    now: datetime | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DemoResult:
    """Run the demo end to end and write ``out_dir/report.html`` (plus CSV and JSON)."""
    start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    loaded = demo_inventory()
    inventory = loaded.inventory
    advisories = demo_advisories()
    by_id = {a.id: a for a in advisories}
    with open_store(db_url) as store:
        store.replace_inventory(
            inventory,
            {a.id: owner_of(a).value for a in inventory.assets},
            {a.id: loaded.source_of(a.id) for a in inventory.assets},
        )
        store.upsert_advisories(
            (a.id, a.modified, a.withdrawn, a.model_dump(mode="json")) for a in advisories
        )
        before = assess(inventory, advisories, start)
        record_assessment(store, before, inventory)
        plan = plan_campaign(
            inventory, demo_campaign(), before.decisions, by_id, before.fixes, start
        )
        store.save_plan(plan.digest(), plan.campaign, plan.model_dump(mode="json"))
        if on_plan is not None:
            on_plan(plan)
        run = store.create_run(plan.digest(), state="running", started_at=start)
        clock = ScaledClock(start, speed)
        failures = choose_failures(plan, seed) if inject_failures else FailurePlan()
        estate = SimEstate(inventory, clock, seed=seed, failures=failures)
        drivers = estate_drivers(estate, inventory)
        journal = StoreJournal(store, run.id)
        runner = Runner(plan, journal, StepExecutor(drivers), clock, on_progress)
        progress = asyncio.run(runner.run())
        state = stop(RunState.RUNNING, progress).state.value
        finished = clock.now()
        store.set_run_state(
            run.id,
            state,
            finished_at=finished,
            summary={"units": {s.value: progress.count(s) for s in UnitState}},
        )
        rescanned = rescan(inventory, estate)
        after = assess(rescanned, advisories, finished)
        record_assessment(store, after, rescanned)
    trace = RunTrace(plan, journal.records(), journal.times, progress, state)
    data = build_report(
        "patchwarden demo: 2026-11 security campaign",
        f"simulated estate of {len(inventory.assets)} assets, seed {seed}",
        datetime.now(UTC),  # the real time; the data's own time is the simulated clock's
        inventory,
        by_id,
        before,
        after,
        trace,
        after_inventory=rescanned,
        as_of=finished,
    )
    paths = write_report(data, out_dir, ("html", "csv", "json"))
    return DemoResult(
        paths, plan, run.id, state, before, after, progress, failures, len(estate.migrations)
    )
