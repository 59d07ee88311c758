"""Hypervisor evacuation: live-migrate every VM off, then patch the empty host.

Placement is decided here, at planning time, so the plan shows where each VM goes. A VM
goes to an already-patched hypervisor when one has room, so it moves at most once; only
when none has room does it go to one patched later. Capacity (vCPUs, memory) and
anti-affinity are honoured; hosts of the same batch are never targets of each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from patchwarden.domain.assets import AssetBase, Hypervisor, VirtualAppliance, Vm
from patchwarden.domain.plan import Batch, StepAction
from patchwarden.errors import InputError
from patchwarden.planning.context import GroupContext
from patchwarden.planning.steps import host_unit

__all__ = ["EvacuationImpossible", "plan_evacuate"]


class EvacuationImpossible(InputError):
    """No hypervisor can take a VM: add capacity or relax anti-affinity."""


@dataclass
class _Host:
    hv: Hypervisor
    vcpus: int = 0
    memory: int = 0
    groups: set[str] = field(default_factory=set)
    patched: bool = False

    def fits(self, vm: Vm) -> bool:
        return (
            self.vcpus + vm.vcpus <= self.hv.capacity.vcpus
            and self.memory + vm.memory_gb <= self.hv.capacity.memory_gb
            and (not vm.anti_affinity or vm.anti_affinity not in self.groups)
        )

    def take(self, vm: Vm) -> None:
        self.vcpus += vm.vcpus
        self.memory += vm.memory_gb
        if vm.anti_affinity:
            self.groups.add(vm.anti_affinity)

    def give(self, vm: Vm) -> None:
        self.vcpus -= vm.vcpus
        self.memory -= vm.memory_gb
        if vm.anti_affinity:
            self.groups.discard(vm.anti_affinity)


def _guests(assets: Sequence[AssetBase]) -> dict[str, list[Vm]]:
    out: dict[str, list[Vm]] = {}
    for asset in assets:
        if isinstance(asset, Vm) and asset.hypervisor:
            out.setdefault(asset.hypervisor, []).append(asset)
        elif isinstance(asset, VirtualAppliance) and asset.hypervisor:
            # Appliances migrate like VMs; they count one vCPU and 2 GB unless told otherwise.
            as_vm = Vm(id=asset.id, kind="vm", env=asset.env, vcpus=1, memory_gb=2)
            out.setdefault(asset.hypervisor, []).append(as_vm)
    return out


def plan_evacuate(ctx: GroupContext) -> tuple[Batch, ...]:
    """Batches of ``max_parallel`` hypervisors, each emptied before it is touched."""
    targets = sorted((a for a in ctx.assets if isinstance(a, Hypervisor)), key=lambda a: a.id)
    pool = {
        a.id: _Host(a)
        for a in ctx.inventory.assets
        if isinstance(a, Hypervisor) and a.env == ctx.env
    }
    guests = _guests(ctx.inventory.assets)
    for hv_id, vms in guests.items():
        if hv_id in pool:
            for vm in vms:
                pool[hv_id].take(vm)
    order = {hv.id: i for i, hv in enumerate(targets)}
    batches: list[Batch] = []
    size = ctx.spec.max_parallel
    for start in range(0, len(targets), size):
        batch_hosts = targets[start : start + size]
        busy = {h.id for h in batch_hosts}
        units = []
        for hv in batch_hosts:
            before: list[tuple[StepAction, dict[str, Any]]] = [(StepAction.MAINTENANCE_ON, {})]
            for vm in sorted(guests.get(hv.id, []), key=lambda v: v.id):
                dest = _place(vm, pool, busy | {hv.id}, order)
                pool[hv.id].give(vm)
                pool[dest].take(vm)
                before.append(
                    (StepAction.MIGRATE, {"vm": vm.id, "source": hv.id, "destination": dest})
                )
            units.append(
                host_unit(
                    ctx.wave_id,
                    hv.id,
                    ctx.patches[hv.id],
                    ctx.reboot[hv.id],
                    before=before,
                    after=[(StepAction.MAINTENANCE_OFF, {})],
                )
            )
        for hv in batch_hosts:
            pool[hv.id].patched = True
        batches.append(Batch(id=f"{ctx.wave_id}#{len(batches) + 1}", units=tuple(units)))
    return tuple(batches)


def _place(vm: Vm, pool: dict[str, _Host], busy: set[str], order: dict[str, int]) -> str:
    candidates = [h for h in pool.values() if h.hv.id not in busy and h.fits(vm)]
    if not candidates:
        raise EvacuationImpossible(
            f"cannot evacuate {vm.id}: no other hypervisor in its environment has room "
            f"({vm.vcpus} vCPUs, {vm.memory_gb} GB) within anti-affinity rules; "
            "add capacity or lower max_parallel"
        )

    # Patched hosts first (the VM then moves once); among unpatched, the one patched last;
    # then the emptiest, so load spreads.
    def rank(h: _Host) -> tuple[int, int, int, str]:
        return (0 if h.patched else 1, -order.get(h.hv.id, len(order)), h.memory, h.hv.id)

    return min(candidates, key=rank).hv.id
