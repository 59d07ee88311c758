"""Check a plan against the estate's safety rules, independently of the strategies.

The strategies are written to keep these rules; this module re-derives them from the plan
alone, walking it batch by batch as the engine would run it (units of a batch at once),
so a strategy bug shows up as a violation rather than an outage:

- no load-balancer pool below its ``min_healthy`` serving members;
- no cluster below its quorum;
- no storage redundancy group without an online part;
- every VM off a hypervisor before that hypervisor's patch step;
- no hypervisor over its vCPU or memory capacity at any point;
- no VM moved onto a hypervisor that holds another VM of its anti-affinity group.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from patchwarden.domain.assets import (
    Cluster,
    Hypervisor,
    LoadBalancer,
    StorageSystem,
    VirtualAppliance,
    Vm,
)
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Plan, StepAction
from patchwarden.domain.steps import MigrateParams, SwitchParams

__all__ = ["Violation", "verify_plan"]

_TAKES_OUT = frozenset({StepAction.PATCH, StepAction.REBOOT, StepAction.REPLACE, StepAction.DRAIN})


@dataclass(frozen=True)
class Violation:
    """A rule a batch of the plan would break."""

    batch: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.batch}: {self.rule}: {self.detail}"


class _Estate:
    def __init__(self, inventory: Inventory) -> None:
        self.size: dict[str, tuple[int, int]] = {}
        self.where: dict[str, str] = {}
        self.capacity: dict[str, tuple[int, int]] = {}
        self.pools: list[tuple[str, str, tuple[str, ...], int]] = []
        self.sides: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
        self.active: dict[tuple[str, str], str] = {}
        self.clusters: list[Cluster] = []
        self.groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.affinity: dict[str, str] = {}
        for a in inventory.assets:
            if isinstance(a, Hypervisor):
                self.capacity[a.id] = (a.capacity.vcpus, a.capacity.memory_gb)
            elif isinstance(a, Vm) and a.hypervisor:
                self.where[a.id] = a.hypervisor
                self.size[a.id] = (a.vcpus, a.memory_gb)
                if a.anti_affinity:
                    self.affinity[a.id] = a.anti_affinity
            elif isinstance(a, VirtualAppliance) and a.hypervisor:
                self.where[a.id] = a.hypervisor
                self.size[a.id] = (1, 2)  # as the evacuation strategy counts them
            elif isinstance(a, LoadBalancer):
                for pool in a.pools:
                    if pool.blue_green is not None:
                        key = (a.id, pool.name)
                        self.sides[key] = {
                            "blue": pool.blue_green.blue,
                            "green": pool.blue_green.green,
                        }
                        self.active[key] = pool.blue_green.active
                    if pool.min_healthy is not None:
                        self.pools.append((a.id, pool.name, pool.all_members(), pool.min_healthy))
            elif isinstance(a, Cluster):
                self.clusters.append(a)
            elif isinstance(a, StorageSystem):
                for part in a.parts:
                    self.groups[(a.id, part.redundancy_group)].add(part.id)

    def load(self, host: str) -> tuple[int, int]:
        vms = [v for v, h in self.where.items() if h == host]
        return sum(self.size[v][0] for v in vms), sum(self.size[v][1] for v in vms)


def verify_plan(plan: Plan, inventory: Inventory) -> list[Violation]:
    """Every violation of the safety rules, in plan order (empty for a safe plan)."""
    estate = _Estate(inventory)
    out: list[Violation] = []
    for wave in plan.waves:
        for batch in wave.batches:
            out.extend(_check_batch(batch, estate))
    return out


def _check_batch(batch: Batch, estate: _Estate) -> list[Violation]:
    found: list[Violation] = []
    down = {s.target for u in batch.units for s in u.steps if s.action in _TAKES_OUT}
    for lb, pool, members, min_healthy in estate.pools:
        serving = [m for m in members if m not in down]
        if (lb, pool) in estate.sides:
            side = estate.sides[(lb, pool)][estate.active[(lb, pool)]]
            serving = [m for m in side if m not in down]
        if len(serving) < min_healthy:
            found.append(
                Violation(
                    batch.id,
                    "min_healthy",
                    f"{lb}/{pool}: {len(serving)} serving, needs {min_healthy}",
                )
            )
    for cluster in estate.clusters:
        out = [m for m in cluster.members if m in down]
        quorum = cluster.quorum or len(cluster.members) - 1
        if len(cluster.members) - len(out) < quorum:
            found.append(
                Violation(
                    batch.id,
                    "quorum",
                    f"{cluster.id}: {len(out)} of {len(cluster.members)} out, quorum {quorum}",
                )
            )
    offline = {
        s.target for u in batch.units for s in u.steps if s.action is StepAction.PATH_OFFLINE
    }
    for (system, group), parts in estate.groups.items():
        if len(parts) > 1 and parts <= offline:
            found.append(Violation(batch.id, "redundancy", f"{system}/{group}: every path offline"))
    patched_here = {
        u.target for u in batch.units if any(s.action is StepAction.PATCH for s in u.steps)
    }
    for unit in batch.units:
        for step in unit.steps:
            if isinstance(step.params, MigrateParams):
                vm, dest = step.params.vm, step.params.destination
                if dest in patched_here:
                    found.append(
                        Violation(
                            batch.id,
                            "evacuation",
                            f"{vm} moved onto {dest}, patched in the same batch",
                        )
                    )
                peers = estate.affinity.get(vm)
                if peers:
                    beside = sorted(
                        v
                        for v, h in estate.where.items()
                        if h == dest and v != vm and estate.affinity.get(v) == peers
                    )
                    if beside:
                        found.append(
                            Violation(
                                batch.id,
                                "anti_affinity",
                                f"{vm} moved onto {dest} beside {', '.join(beside)} "
                                f"(group {peers})",
                            )
                        )
                estate.where[vm] = dest
                vcpus, memory = estate.load(dest)
                cap_cpu, cap_mem = estate.capacity.get(dest, (10**9, 10**9))
                if vcpus > cap_cpu or memory > cap_mem:
                    found.append(
                        Violation(
                            batch.id,
                            "capacity",
                            f"{dest} at {vcpus} vCPUs / {memory} GB after {vm}",
                        )
                    )
            elif step.action is StepAction.PATCH and step.target in estate.capacity:
                left = sorted(v for v, h in estate.where.items() if h == step.target)
                if left:
                    found.append(
                        Violation(
                            batch.id,
                            "evacuation",
                            f"{step.target} patched with {', '.join(left)} on it",
                        )
                    )
            elif isinstance(step.params, SwitchParams):
                estate.active[(step.params.lb, step.params.pool)] = step.params.side
    return found
