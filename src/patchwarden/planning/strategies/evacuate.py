"""Hypervisor evacuation: live-migrate every VM off, then patch the empty host.

Placement is decided here, at planning time, so the plan shows where each VM goes. A VM
goes to an already-patched hypervisor when one has room, so it moves at most once; only
when none has room does it go to one patched later. Capacity (vCPUs, memory) and
anti-affinity are honoured; hosts of the same batch are never targets of each other.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from patchwarden.domain.assets import AssetBase, Hypervisor, VirtualAppliance, Vm
from patchwarden.domain.plan import Batch
from patchwarden.domain.steps import (
    MaintenanceOffParams,
    MaintenanceOnParams,
    MigrateParams,
    StepParams,
)
from patchwarden.errors import InputError
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import host_unit

__all__ = ["STRATEGY", "EvacuationImpossible", "plan_evacuate"]


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
    hosts = {
        a.id: _Host(a)
        for a in ctx.inventory.assets
        if isinstance(a, Hypervisor) and a.env == ctx.env
    }
    on_host: dict[str, dict[str, Vm]] = {h: {} for h in hosts}
    for hv_id, vms in _guests(ctx.inventory.assets).items():
        if hv_id in hosts:
            for vm in vms:
                hosts[hv_id].take(vm)
                on_host[hv_id][vm.id] = vm
    placer = _Placer(hosts, [t.id for t in targets])
    batches: list[Batch] = []
    size = ctx.spec.max_parallel
    for start in range(0, len(targets), size):
        batch_hosts = targets[start : start + size]
        busy = {h.id for h in batch_hosts}
        units = []
        for hv in batch_hosts:
            before: list[StepParams] = [MaintenanceOnParams()]
            # Every VM on the host now: the inventory's, and any moved here by earlier batches.
            for vm in sorted(on_host[hv.id].values(), key=lambda v: v.id):
                dest = placer.place(vm, busy)
                hosts[hv.id].give(vm)
                on_host[dest][vm.id] = vm
                before.append(MigrateParams(vm=vm.id, source=hv.id, destination=dest))
            on_host[hv.id].clear()
            units.append(
                host_unit(
                    ctx.wave_id,
                    hv.id,
                    ctx.patches[hv.id],
                    ctx.reboot[hv.id],
                    before=before,
                    after=[MaintenanceOffParams()],
                )
            )
        for hv in batch_hosts:
            placer.patched(hv.id)
        batches.append(Batch(id=f"{ctx.wave_id}#{len(batches) + 1}", units=tuple(units)))
    return tuple(batches)


class _Placer:
    """Where a VM goes.

    An already-patched host with room, the emptiest first (a heap); failing that, the
    unpatched host that will be patched last.

    Hosts the campaign does not patch count as patched: a VM placed there never moves
    again. The heap keeps one live entry per host; entries whose key no longer matches the
    host's free memory are stale and skipped, so updates cost O(log n).
    """

    def __init__(self, hosts: dict[str, _Host], targets: list[str]) -> None:
        self.hosts = hosts
        self.unpatched = list(reversed(targets))  # patched last = best unpatched target
        pending = set(targets)
        self.heap: list[tuple[int, str]] = []
        for host_id in hosts:
            if host_id not in pending:
                self.patched(host_id)

    def _free(self, host_id: str) -> int:
        host = self.hosts[host_id]
        return host.hv.capacity.memory_gb - host.memory

    def patched(self, host_id: str) -> None:
        host = self.hosts[host_id]
        host.patched = True
        heapq.heappush(self.heap, (-self._free(host_id), host_id))

    def place(self, vm: Vm, busy: set[str]) -> str:
        chosen = self._from_patched(vm, busy) or self._from_unpatched(vm, busy)
        if chosen is None:
            raise EvacuationImpossible(
                f"cannot evacuate {vm.id}: no other hypervisor in its environment has room "
                f"({vm.vcpus} vCPUs, {vm.memory_gb} GB) within anti-affinity rules; "
                "add capacity or lower max_parallel"
            )
        self.hosts[chosen].take(vm)
        if self.hosts[chosen].patched:
            heapq.heappush(self.heap, (-self._free(chosen), chosen))
        return chosen

    def _from_patched(self, vm: Vm, busy: set[str]) -> str | None:
        skipped: list[tuple[int, str]] = []
        found = None
        while self.heap:
            key, host_id = heapq.heappop(self.heap)
            if -key != self._free(host_id):
                continue  # stale entry; the host's live entry is elsewhere in the heap
            if -key < vm.memory_gb:
                skipped.append((key, host_id))
                break  # the roomiest patched host is too small: none will do
            if host_id not in busy and self.hosts[host_id].fits(vm):
                found = host_id
                break
            skipped.append((key, host_id))
        for entry in skipped:
            heapq.heappush(self.heap, entry)
        return found

    def _from_unpatched(self, vm: Vm, busy: set[str]) -> str | None:
        for host_id in self.unpatched:
            host = self.hosts[host_id]
            if not host.patched and host_id not in busy and host.fits(vm):
                return host_id
        return None


STRATEGY = Strategy("evacuate", plan_evacuate)
