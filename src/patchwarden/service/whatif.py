"""What-if: run a plan on the simulated estate and say what it would cost.

Predicted duration, the peak share of each service (load-balancer pool) out of rotation
at any moment, and the maintenance windows the plan uses. The plan runs through the real
engine against simulated drivers, so the prediction includes drain waits, reboots,
retries and canary analyses.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.domain.steps import PoolParams
from patchwarden.drivers.sim import FailurePlan, ScaledClock, SimEstate
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.service.sim import estate_drivers

__all__ = ["ServiceImpact", "WhatIf", "simulate_plan"]


@dataclass(frozen=True)
class ServiceImpact:
    """How much of one pool was out of rotation at worst."""

    service: str
    members: int
    peak_out: int

    @property
    def peak_loss(self) -> float:
        """Fraction of members out at the worst moment."""
        return self.peak_out / self.members if self.members else 0.0


@dataclass(frozen=True)
class WhatIf:
    """The predicted cost of a plan."""

    duration: timedelta
    units: dict[str, int]
    services: tuple[ServiceImpact, ...]
    windows: tuple[str, ...]
    migrations: int


def simulate_plan(
    plan: Plan,
    inventory: Inventory,
    start: datetime,
    seed: int = 0,
    failures: FailurePlan | None = None,
) -> WhatIf:
    """Run ``plan`` on a simulated copy of ``inventory``; nothing real is touched."""
    clock = ScaledClock(start, speed=200_000.0)
    estate = SimEstate(inventory, clock, seed=seed, failures=failures)
    journal = MemoryJournal()
    drivers = estate_drivers(estate, inventory)
    progress = asyncio.run(Runner(plan, journal, StepExecutor(drivers), clock).run())
    end = journal.times[-1] if journal.times else start
    pools = {
        f"{a.id}/{p.name}": len(p.all_members())
        for a in inventory.assets
        if isinstance(a, LoadBalancer)
        for p in a.pools
    }
    steps = {s.id: s for u in plan.units() for s in (*u.steps, *u.rollback)}
    out: dict[str, set[str]] = defaultdict(set)
    peak: dict[str, int] = defaultdict(int)
    for record in journal.records():
        step = steps.get(record.step_id)
        if step is None or not isinstance(step.params, PoolParams):
            continue
        if record.event != "succeeded":
            continue
        key = f"{step.params.lb}/{step.params.pool}"
        if step.action is StepAction.DRAIN:
            out[key].add(step.target)
        elif step.action is StepAction.ENABLE:
            out[key].discard(step.target)
        peak[key] = max(peak[key], len(out[key]))
    services = tuple(
        ServiceImpact(name, size, peak.get(name, 0)) for name, size in sorted(pools.items())
    )
    windows = tuple(
        sorted({b.slot.window for w in plan.waves for b in w.batches if b.slot and b.slot.window})
    )
    return WhatIf(
        duration=end - start,
        units={s.value: progress.count(s) for s in UnitState if progress.count(s)},
        services=services,
        windows=windows,
        migrations=len(estate.migrations),
    )
