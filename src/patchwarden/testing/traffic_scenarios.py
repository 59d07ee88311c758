"""Strategies under load: plan with the real planner's strategy, run with the real engine.

Each scenario puts the traffic lab back to its start, starts the load generator, plans the
group with the strategy's own planning function (:data:`patchwarden.planning.plan.STRATEGIES`),
runs the plan with the engine's :class:`~patchwarden.engine.runner.Runner` over real SSH,
apt, reboots and HAProxy, stops the load and reports what the clients saw.

Example (as root, the traffic lab up)::

    run = run_strategy(traffic, "canary", version="1.0-5")
    print(run.summary())   # {'requests': ..., 'failed': ..., 'rolled_back': True, ...}
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from patchwarden.domain.campaign import GroupSpec, Selector
from patchwarden.domain.plan import Plan, Wave
from patchwarden.domain.steps import SetWeightParams
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import Progress, UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.planning.context import GroupContext, memberships
from patchwarden.planning.plan import STRATEGIES
from patchwarden.planning.steps import PatchSet
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_load import LoadProcess, LoadReport

__all__ = ["TrafficRun", "analyses", "canary_share", "plan_for", "run_strategy"]

KERNEL = ("pw-kernel", "1.0-2")  # needs a reboot: every host really goes away


@dataclass(frozen=True)
class TrafficRun:
    """One strategy's rollout under load."""

    strategy: str
    plan: Plan
    progress: Progress
    journal: MemoryJournal
    load: LoadReport
    seconds: float

    @property
    def rolled_back(self) -> bool:
        """Whether any unit was rolled back."""
        return self.progress.count(UnitState.ROLLED_BACK) > 0

    def summary(self) -> dict[str, Any]:
        """The bench's row: requests, failed, p99 latency (ms), rollout seconds."""
        rolled_back = self.rolled_back if self.strategy == "canary" else None
        return self.load.bench_row(self.seconds, rolled_back)


def analyses(journal: MemoryJournal) -> list[dict[str, Any]]:
    """Every canary analysis the journal holds (samples, statistics, verdict)."""
    return [
        dict(r.payload["analysis"])
        for r in journal.records()
        if r.event == "observed" and "analysis" in r.payload
    ]


def plan_for(
    traffic: TrafficLab,
    strategy: str,
    packages: PatchSet,
    reboot: bool,
    **spec: Any,
) -> Plan:
    """The group of all lab hosts planned by ``strategy``'s own planning function."""
    blue_green = strategy == "blue_green"
    inventory = traffic.inventory(blue_green)
    hosts = tuple(a for a in inventory.assets if a.id in traffic.hosts)
    group = GroupSpec(select=Selector(role="web"), strategy=strategy, **spec)
    ctx = GroupContext(
        wave_id="dev.web",
        env="dev",
        group="web",
        spec=group,
        inventory=inventory,
        assets=hosts,
        patches=dict.fromkeys(traffic.hosts, packages),
        reboot=dict.fromkeys(traffic.hosts, reboot),
        lb_of=memberships(inventory),
    )
    batches = STRATEGIES[strategy].plan(ctx)
    wave = Wave(id="dev.web", env="dev", group="web", strategy=strategy, batches=batches)
    return Plan(
        campaign=f"traffic {strategy}",
        created_at=datetime.now(UTC),
        environments=("dev",),
        waves=(wave,),
        max_errors=0,
    )


def run_strategy(
    traffic: TrafficLab,
    strategy: str,
    version: str = "1.0-2",
    reboot: bool = True,
    concurrency: int = 40,
    canary_only: bool = False,
    timeout_s: float = 240.0,
    **spec: Any,
) -> TrafficRun:
    """Reset the lab, start the load, run ``strategy`` with the engine, stop the load.

    ``version`` is the pw-web build to roll out (``1.0-2`` good; ``1.0-3`` fails its health
    check; ``1.0-4`` slow, ``1.0-5`` flaky). With ``reboot`` the patch also updates the
    kernel package and reboots every host. ``canary_only`` keeps just the canary and
    analysis batches. ``spec`` goes to the group's :class:`GroupSpec`.
    """
    packages: PatchSet = (("pw-web", version), KERNEL) if reboot else (("pw-web", version),)
    plan = plan_for(traffic, strategy, packages, reboot, **spec)
    if canary_only:
        wave = plan.waves[0]
        plan = plan.model_copy(
            update={"waves": (wave.model_copy(update={"batches": wave.batches[:2]}),)}
        )
    traffic.reset()
    drivers = traffic.engine_drivers(blue_green=strategy == "blue_green")
    executor = StepExecutor(drivers, drain_poll_s=0.1)
    journal = MemoryJournal()
    runner = Runner(plan, journal, executor, drivers.clock, retry_delay_s=0.5)
    port = traffic.setup.bluegreen_port if strategy == "blue_green" else traffic.setup.web_port
    load = LoadProcess(traffic.setup.address, port, concurrency)
    load.start()
    start = time.monotonic()
    try:
        progress = traffic.loop.run(runner.run(), timeout_s)
    finally:
        seconds = time.monotonic() - start
        report = load.stop()
    return TrafficRun(strategy, plan, progress, journal, report, seconds)


def canary_share(run: TrafficRun, pool_size: int) -> float:
    """The share of new requests the canaries got while they served: weight over the pool's."""
    weights = {
        s.target: s.params.weight
        for u in run.plan.units()
        if "analysis" not in u.id
        for s in u.steps
        if isinstance(s.params, SetWeightParams)
    }
    total = sum(weights.values())
    return total / (total + 100 * (pool_size - len(weights)))
