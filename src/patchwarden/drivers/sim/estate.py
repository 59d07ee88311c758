"""A simulated estate built from an inventory: hosts, load balancers, hypervisors.

It keeps the state a real estate would (installed versions, boot ids, pool member states,
VM placement, maintenance flags, firmware, paths, images) and implements every driver
protocol over it. Durations and failures are derived from a seed and the host's name,
never from call order, so a run is repeatable even though units run side by side.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from patchwarden.domain.assets import VirtualAppliance, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.protocols import Clock, HealthResult
from patchwarden.drivers.sim.lb import PoolState, SimLoadBalancer
from patchwarden.drivers.sim.platform import PlatformState, SimPlatform
from patchwarden.drivers.sim.state import Host, SimTiming
from patchwarden.drivers.transport import CommandResult
from patchwarden.errors import DriverError

__all__ = ["FailurePlan", "SimEstate"]


@dataclass(frozen=True)
class FailurePlan:
    """Which hosts misbehave.

    A patch that fails to install, one that breaks the service, a host that never returns
    from its reboot.
    """

    patch_fails: frozenset[str] = frozenset()
    degrades: frozenset[str] = frozenset()
    """Hosts whose patched service passes its health check but errs and slows under load."""
    breaks_health: frozenset[str] = frozenset()
    never_returns: frozenset[str] = frozenset()


class SimEstate:
    """The host-level driver protocols over simulated state, and the estate's other drivers.

    Packages, power, health checks and hypervisors are methods of the estate itself; each
    load balancer is a :class:`SimLoadBalancer` (:meth:`lb`) over the shared
    :class:`PoolState`, and clusters, firmware, appliances, storage and images are
    :attr:`platform`, a :class:`SimPlatform` over a :class:`PlatformState`. Each part is
    handed the state it needs; none reaches into another.
    """

    def __init__(
        self,
        inventory: Inventory,
        clock: Clock,
        seed: int = 0,
        failures: FailurePlan | None = None,
    ) -> None:
        self.timing = SimTiming(clock, seed)
        self.failures = failures or FailurePlan()
        self.hosts = {a.id: Host(dict(a.packages), dict(a.packages)) for a in inventory.assets}
        self.vm_host = {
            a.id: a.hypervisor
            for a in inventory.assets
            if isinstance(a, Vm | VirtualAppliance) and a.hypervisor
        }
        self.migrations: list[tuple[str, str, str]] = []
        self.vm_snapshots: dict[str, dict[str, dict[str, Any]]] = {}
        """VM -> snapshot name -> its packages and boot count when taken."""
        self.pools = PoolState.from_inventory(inventory)
        self.platform = SimPlatform(
            PlatformState.from_inventory(inventory), self.hosts, self.timing
        )

    @property
    def clock(self) -> Clock:
        """The clock every part of the estate waits on."""
        return self.timing.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.timing.clock = clock

    async def take(self, base_s: float, *parts: str) -> None:
        """Spend about ``base_s`` of simulated time on an action (see :class:`SimTiming`)."""
        await self.timing.take(base_s, *parts)

    def host(self, host: str) -> Host:
        """The simulated state of one host."""
        try:
            return self.hosts[host]
        except KeyError:
            raise DriverError(f"sim: no such host {host!r}") from None

    # -- PackageDriver ------------------------------------------------------------------

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """A campaign hook: nothing runs in a simulation, so it is logged and answers 0."""
        if host in self.hosts:
            self.hosts[host].log.append(f"hook {shlex.join(argv)}")
        return CommandResult(host, tuple(argv), 0, "", "")

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed versions of the named packages."""
        state = self.host(host)
        await self.take(2, host, "query")
        return {n: state.packages[n] for n in names if n in state.packages}

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exact versions; a host in ``patch_fails`` fails half-way."""
        state = self.host(host)
        if not state.up:
            raise DriverError(f"{host}: unreachable")
        for index, (name, version) in enumerate(targets.items()):
            await self.take(20, host, "install", name)
            failing = host in self.failures.patch_fails and index == len(targets) // 2
            if failing and version != state.original.get(name):
                raise DriverError(f"{host}: dpkg: error processing package {name} (--configure)")
            state.packages[name] = version
        state.log.append(f"install {dict(targets)}")

    # -- PowerDriver --------------------------------------------------------------------

    async def boot_id(self, host: str) -> str:
        """Changes with every boot."""
        return f"{host}-boot-{self.host(host).boot}"

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot; a host in ``never_returns`` stays down past the timeout."""
        state = self.host(host)
        state.up = False
        if host in self.failures.never_returns:
            await self.clock.sleep(timeout_s)
            raise DriverError(f"{host}: did not come back within {timeout_s:.0f} s after reboot")
        await self.take(120, host, "reboot", str(state.boot))
        state.boot += 1
        state.up = True
        return await self.boot_id(host)

    # -- HealthChecker ------------------------------------------------------------------

    async def check(self, host: str) -> HealthResult:
        """Healthy unless down, or patched with a patch that breaks this host's service."""
        state = self.host(host)
        await self.take(5, host, "health", str(len(state.log)))
        if not state.up:
            return HealthResult(False, f"{host}: connection refused")
        if self.broken(host):
            return HealthResult(False, f"{host}: GET /healthz -> 502 (service fails to start)")
        return HealthResult(True, f"{host}: GET /healthz -> 200")

    def broken(self, host: str) -> bool:
        """Whether the host's service fails: a breaking patch is installed on it."""
        state = self.host(host)
        return host in self.failures.breaks_health and state.packages != state.original

    def degraded(self, host: str) -> bool:
        """Whether the host serves worse under load: broken, or a degrading patch."""
        state = self.host(host)
        patched = state.packages != state.original
        return self.broken(host) or (host in self.failures.degrades and patched)

    # -- LoadBalancerDriver, per load balancer ----------------------------------------

    def lb(self, lb_id: str) -> SimLoadBalancer:
        """The load-balancer driver of one load balancer of the estate."""
        return SimLoadBalancer(lb_id, self.pools, self.timing, self.degraded)

    # -- HypervisorDriver ---------------------------------------------------------------

    async def placement(self, vm: str) -> str:
        """The hypervisor a VM runs on."""
        if vm not in self.vm_host:
            raise DriverError(f"sim: VM {vm!r} has no hypervisor")
        return self.vm_host[vm]

    async def migrate(self, vm: str, destination: str) -> None:
        """Live-migrate; refuses a destination in maintenance."""
        source = await self.placement(vm)
        if source == destination:
            return
        if self.host(destination).maintenance:
            raise DriverError(f"cannot migrate {vm} to {destination}: host in maintenance")
        await self.take(60, vm, "migrate", destination)
        self.vm_host[vm] = destination
        self.migrations.append((vm, source, destination))

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Fence a hypervisor off, or bring it back."""
        self.host(host).maintenance = on

    # -- SnapshotDriver: a VM's packages and boot, kept and put back ---------------------

    async def snapshot_support(self, vm: str) -> str | None:
        """A VM on a hypervisor can be snapshotted; anything else cannot."""
        if vm not in self.vm_host:
            return f"{vm} runs on no hypervisor of the estate"
        return None

    async def snapshots(self, vm: str) -> list[str]:
        """The VM's snapshots, sorted."""
        return sorted(self.vm_snapshots.get(vm, {}))

    async def create_snapshot(self, vm: str, name: str) -> None:
        """Keep the VM's packages and boot count as ``name`` (an existing one stays)."""
        reason = await self.snapshot_support(vm)
        if reason is not None:
            raise DriverError(f"sim: cannot snapshot {vm}: {reason}")
        taken = self.vm_snapshots.setdefault(vm, {})
        if name in taken:
            return
        await self.take(5, vm, "snapshot", name)
        state = self.host(vm)
        taken[name] = {"packages": dict(state.packages), "boot": state.boot}
        state.log.append(f"snapshot {name}")

    async def revert_snapshot(self, vm: str, name: str) -> None:
        """Put the VM's packages and boot count back as snapshot ``name`` had them."""
        taken = self.vm_snapshots.get(vm, {})
        if name not in taken:
            raise DriverError(f"sim: {vm} has no snapshot {name!r}")
        await self.take(10, vm, "revert", name)
        state = self.host(vm)
        state.packages, state.boot = dict(taken[name]["packages"]), taken[name]["boot"]
        state.up = True
        state.log.append(f"revert {name}")

    async def delete_snapshot(self, vm: str, name: str) -> None:
        """Forget snapshot ``name`` (a missing one is no error)."""
        if self.vm_snapshots.get(vm, {}).pop(name, None) is not None:
            self.host(vm).log.append(f"delete-snapshot {name}")

    # -- what-if runs that pause and resume across processes ----------------------------

    def snapshot(self) -> dict[str, Any]:
        """The estate's state as JSON-ready data (see :meth:`restore`)."""
        return {
            "hosts": {
                h: {
                    "packages": s.packages,
                    "boot": s.boot,
                    "maintenance": s.maintenance,
                    "log": s.log,
                }
                for h, s in self.hosts.items()
            },
            "vm_host": self.vm_host,
            "vm_snapshots": self.vm_snapshots,
            **self.pools.snapshot(),
            "platform": self.platform.state.snapshot(),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Put the estate back in a state taken by :meth:`snapshot`."""
        for host, state in data["hosts"].items():
            h = self.hosts[host]
            h.packages, h.boot = dict(state["packages"]), state["boot"]
            h.maintenance, h.log = state["maintenance"], list(state["log"])
        self.vm_host = dict(data["vm_host"])
        self.vm_snapshots = {
            vm: {name: dict(taken) for name, taken in names.items()}
            for vm, names in data.get("vm_snapshots", {}).items()
        }
        self.pools.restore(data)
        self.platform.state.restore(data["platform"])
