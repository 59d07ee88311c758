"""Hypervisor evacuation: live-migrate every VM off, then patch the empty host.

Placement is decided here, at planning time, so the plan shows where each VM goes.

The rules, in order:

1. **One move per VM where capacity allows it.** A VM only goes to a hypervisor that is
   already patched (or that the campaign does not patch), so it never has to move again.
   The order of hosts follows from that: an empty host is patched first (it needs no
   migration at all), then each batch takes the least-loaded unpatched hosts whose VMs all
   fit on already-patched hosts, so the emptied hosts of one batch receive the VMs of the
   next: a cascade. On an estate with one empty hypervisor of the common size, every VM
   moves exactly once.
2. **Batches are at most** ``max_parallel`` **hosts**, and hosts of the same batch are never
   targets of each other. A batch is smaller than ``max_parallel`` when patched hosts have
   no room for more: fewer hosts at once rather than VMs moved twice.
3. **When no host can be emptied onto patched ones** (no empty host, nothing patched yet),
   the least-loaded host goes alone and its VMs go to the roomiest unpatched hosts; those
   VMs move a second time later. That host is then empty and patched, and the cascade
   starts from it.
4. Capacity (vCPUs, memory) and anti-affinity are honoured at every placement; a VM no
   host can take makes the plan impossible, with the reason.
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
    groups: dict[str, int] = field(default_factory=dict)
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
            self.groups[vm.anti_affinity] = self.groups.get(vm.anti_affinity, 0) + 1

    def give(self, vm: Vm) -> None:
        self.vcpus -= vm.vcpus
        self.memory -= vm.memory_gb
        if vm.anti_affinity:
            left = self.groups[vm.anti_affinity] - 1
            if left:
                self.groups[vm.anti_affinity] = left
            else:
                del self.groups[vm.anti_affinity]

    @property
    def free_memory(self) -> int:
        return self.hv.capacity.memory_gb - self.memory


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
    """Batches of at most ``max_parallel`` hypervisors, each emptied before it is touched.

    The cascade (the module's rules) first. Being greedy, it can corner itself on a small,
    tight estate that has a plan: then hosts go in name order, ``max_parallel`` at a time,
    each VM to a patched host with room or else to the unpatched host patched last (it may
    move twice). Only when that fails too is the evacuation impossible.
    """
    try:
        return _plan(ctx, in_name_order=False)
    except EvacuationImpossible:
        return _plan(ctx, in_name_order=True)


def _plan(ctx: GroupContext, *, in_name_order: bool) -> tuple[Batch, ...]:
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
    targets = {a.id: a for a in ctx.assets if isinstance(a, Hypervisor)}
    placer = _Placer(hosts, on_host, set(targets))
    batches: list[Batch] = []
    while placer.pending:
        if in_name_order:
            moves = placer.next_by_name(ctx.spec.max_parallel)
        else:
            moves = placer.next_batch(ctx.spec.max_parallel)
        units = []
        for hv_id, migrations in moves:
            before: list[StepParams] = [MaintenanceOnParams()]
            before.extend(
                MigrateParams(vm=vm.id, source=hv_id, destination=dest) for vm, dest in migrations
            )
            units.append(
                host_unit(
                    ctx.wave_id,
                    hv_id,
                    ctx.patches[hv_id],
                    ctx.reboot[hv_id],
                    before=before,
                    after=[MaintenanceOffParams()],
                )
            )
        batches.append(Batch(id=f"{ctx.wave_id}#{len(batches) + 1}", units=tuple(units)))
    return tuple(batches)


_Moves = list[tuple[Vm, str]]


def _impossible(vm: Vm) -> EvacuationImpossible:
    return EvacuationImpossible(
        f"cannot evacuate {vm.id}: no other hypervisor in its environment has room "
        f"({vm.vcpus} vCPUs, {vm.memory_gb} GB) within anti-affinity rules; "
        "add capacity or lower max_parallel"
    )


_MISSES = 3
"""Hosts tried and found too full before a batch that already has one stops growing.

Hosts are tried least loaded first, so after a few misses the rest will not fit either;
until the batch has a host, every host is tried, so a cascade is never missed."""


class _Placer:
    """Which hosts go next and where their VMs go (see the module's rules).

    Hosts the campaign does not patch count as patched: a VM placed there never moves
    again. Patched hosts sit in a heap keyed by free memory, the roomiest first; a host
    has one live entry, and entries whose key no longer matches the host's free memory are
    stale and skipped, so updates cost O(log n).
    """

    def __init__(
        self, hosts: dict[str, _Host], on_host: dict[str, dict[str, Vm]], targets: set[str]
    ) -> None:
        self.hosts = hosts
        self.on_host = on_host
        self.pending = set(targets)
        self.queue: list[str] | None = None
        self.heap: list[tuple[int, str]] = []
        for host_id in sorted(hosts):
            if host_id not in targets:
                self._mark_patched(host_id)

    def _mark_patched(self, host_id: str) -> None:
        self.hosts[host_id].patched = True
        self._push(host_id)

    def _push(self, host_id: str) -> None:
        heapq.heappush(self.heap, (-self.hosts[host_id].free_memory, host_id))

    def _order(self) -> list[str]:
        """Unpatched hosts, the least loaded first (the emptiest is the cheapest to empty).

        An unpatched host's load only changes when a host that could not be emptied onto
        patched ones sends VMs to it, so the order is kept between batches until then.
        """
        if self.queue is None:
            self.queue = sorted(
                self.pending,
                key=lambda h: (self.hosts[h].memory, self.hosts[h].vcpus, h),
            )
        else:
            self.queue = [h for h in self.queue if h in self.pending]
        return self.queue

    def next_batch(self, size: int) -> list[tuple[str, _Moves]]:
        """The next batch: hosts and the migrations that empty each of them."""
        busy: set[str] = set()
        chosen: list[tuple[str, _Moves]] = []
        order = self._order()
        misses = 0
        for host_id in order:
            if len(chosen) == size or (chosen and misses == _MISSES):
                break
            busy.add(host_id)
            moves = self._empty_onto_patched(host_id, busy)
            if moves is None:
                busy.discard(host_id)
                misses += 1
                continue
            chosen.append((host_id, moves))
        if not chosen:
            # Nothing can be emptied onto patched hosts: the least-loaded host goes alone,
            # its VMs onto unpatched hosts where patched ones are full; they move again later.
            host_id = order[0]
            chosen.append((host_id, self._empty_anywhere(host_id, {host_id})))
        for host_id, moves in chosen:
            self._commit(host_id, moves)
        return chosen

    def next_by_name(self, size: int) -> list[tuple[str, _Moves]]:
        """The next ``size`` unpatched hosts by name, emptied.

        A VM with no room on a patched host goes to the unpatched host that comes last by
        name (the last to be patched).
        """
        chosen_ids = sorted(self.pending)[:size]
        busy = set(chosen_ids)
        chosen: list[tuple[str, _Moves]] = []
        for host_id in chosen_ids:
            moves: _Moves = []
            for vm in sorted(self.on_host[host_id].values(), key=lambda v: v.id):
                dest = self._from_patched(vm, busy) or self._last_by_name(vm, busy)
                if dest is None:
                    raise _impossible(vm)
                self.hosts[dest].take(vm)
                if self.hosts[dest].patched:
                    self._push(dest)
                moves.append((vm, dest))
            chosen.append((host_id, moves))
            # Emptied now: later hosts of this batch may not use it, but it holds no VM.
            for vm, dest in moves:
                self.hosts[host_id].give(vm)
                self.on_host[dest][vm.id] = vm
            self.on_host[host_id].clear()
        for host_id in chosen_ids:
            self.pending.discard(host_id)
            self._mark_patched(host_id)
        return chosen

    def _last_by_name(self, vm: Vm, busy: set[str]) -> str | None:
        for host_id in sorted(self.pending, reverse=True):
            if host_id not in busy and self.hosts[host_id].fits(vm):
                return host_id
        return None

    def _empty_onto_patched(self, host_id: str, busy: set[str]) -> _Moves | None:
        """Place every VM of a host on patched hosts, or place none and return ``None``."""
        moves: _Moves = []
        for vm in self._vms_largest_first(host_id):
            dest = self._from_patched(vm, busy)
            if dest is None:
                for placed, where in moves:
                    self.hosts[where].give(placed)
                    self._push(where)
                return None
            self.hosts[dest].take(vm)
            self._push(dest)
            moves.append((vm, dest))
        return moves

    def _empty_anywhere(self, host_id: str, busy: set[str]) -> _Moves:
        moves: _Moves = []
        for vm in self._vms_largest_first(host_id):
            dest = self._from_patched(vm, busy) or self._from_unpatched(vm, busy)
            if dest is None:
                raise _impossible(vm)
            self.hosts[dest].take(vm)
            if self.hosts[dest].patched:
                self._push(dest)
            else:
                self.queue = None  # an unpatched host's load changed: sort again
            moves.append((vm, dest))
        return moves

    def _vms_largest_first(self, host_id: str) -> list[Vm]:
        """The hardest VMs are placed while there is most room; ties by id, for stable plans."""
        return sorted(self.on_host[host_id].values(), key=lambda v: (-v.memory_gb, -v.vcpus, v.id))

    def _commit(self, host_id: str, moves: _Moves) -> None:
        """The host is emptied by ``moves``, then patched: it can take VMs from now on."""
        for vm, dest in moves:
            self.hosts[host_id].give(vm)
            self.on_host[dest][vm.id] = vm
        self.on_host[host_id].clear()
        self.pending.discard(host_id)
        self._mark_patched(host_id)

    def _from_patched(self, vm: Vm, busy: set[str]) -> str | None:
        skipped: list[tuple[int, str]] = []
        found = None
        while self.heap:
            key, host_id = heapq.heappop(self.heap)
            if -key != self.hosts[host_id].free_memory:
                continue  # stale entry; the host's live entry is elsewhere in the heap
            skipped.append((key, host_id))
            if -key < vm.memory_gb:
                break  # the roomiest patched host is too small: none will do
            if host_id not in busy and self.hosts[host_id].fits(vm):
                found = host_id
                break
        for entry in skipped:
            heapq.heappush(self.heap, entry)
        return found

    def _from_unpatched(self, vm: Vm, busy: set[str]) -> str | None:
        """The roomiest unpatched host that fits (ties by id)."""
        best: tuple[int, str] | None = None
        for host_id in self.pending:
            host = self.hosts[host_id]
            if host_id not in busy and host.fits(vm):
                key = (-host.free_memory, host_id)
                if best is None or key < best:
                    best = key
        return None if best is None else best[1]


STRATEGY = Strategy("evacuate", plan_evacuate)
