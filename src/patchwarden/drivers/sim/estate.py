"""A simulated estate built from an inventory: hosts, load balancers, hypervisors.

It keeps the state a real estate would (installed versions, boot ids, pool member states,
VM placement, maintenance flags) and implements every driver protocol over it. Durations
and failures are derived from a seed and the host's name, never from call order, so a run
is repeatable even though units run side by side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from patchwarden.domain.assets import LoadBalancer, VirtualAppliance, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.protocols import Clock, HealthResult
from patchwarden.errors import DriverError

__all__ = ["FailurePlan", "SimEstate"]


@dataclass(frozen=True)
class FailurePlan:
    """Which hosts misbehave.

    A patch that fails to install, one that breaks the service, a host that never returns
    from its reboot.
    """

    patch_fails: frozenset[str] = frozenset()
    breaks_health: frozenset[str] = frozenset()
    never_returns: frozenset[str] = frozenset()


@dataclass
class _Member:
    state: str = "ready"
    drained_at: datetime | None = None
    sessions_at_drain: int = 0


@dataclass
class _Host:
    packages: dict[str, str]
    original: dict[str, str]
    boot: int = 0
    maintenance: bool = False
    up: bool = True
    log: list[str] = field(default_factory=list)


class SimEstate:
    """Every driver protocol over simulated state."""

    def __init__(
        self,
        inventory: Inventory,
        clock: Clock,
        seed: int = 0,
        failures: FailurePlan | None = None,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.failures = failures or FailurePlan()
        self.hosts = {a.id: _Host(dict(a.packages), dict(a.packages)) for a in inventory.assets}
        self.vm_host = {
            a.id: a.hypervisor
            for a in inventory.assets
            if isinstance(a, Vm | VirtualAppliance) and a.hypervisor
        }
        self.members: dict[tuple[str, str], _Member] = {}
        for asset in inventory.assets:
            if isinstance(asset, LoadBalancer):
                for pool in asset.pools:
                    for member in pool.all_members():
                        self.members[(pool.name, member)] = _Member()
        self.migrations: list[tuple[str, str, str]] = []

    # -- timing -------------------------------------------------------------------------

    def _jitter(self, *parts: str) -> float:
        """A number in [0, 1) fixed by the seed and the names: repeatable, order-free."""
        digest = hashlib.sha256("/".join((str(self.seed), *parts)).encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32

    async def _take(self, base_s: float, *parts: str) -> None:
        await self.clock.sleep(base_s * (0.75 + 0.5 * self._jitter(*parts)))

    def _host(self, host: str) -> _Host:
        try:
            return self.hosts[host]
        except KeyError:
            raise DriverError(f"sim: no such host {host!r}") from None

    # -- PackageDriver ------------------------------------------------------------------

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed versions of the named packages."""
        state = self._host(host)
        await self._take(2, host, "query")
        return {n: state.packages[n] for n in names if n in state.packages}

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exact versions; a host in ``patch_fails`` fails half-way."""
        state = self._host(host)
        if not state.up:
            raise DriverError(f"{host}: unreachable")
        for index, (name, version) in enumerate(targets.items()):
            await self._take(20, host, "install", name)
            failing = host in self.failures.patch_fails and index == len(targets) // 2
            if failing and version != state.original.get(name):
                raise DriverError(f"{host}: dpkg: error processing package {name} (--configure)")
            state.packages[name] = version
        state.log.append(f"install {dict(targets)}")

    # -- PowerDriver --------------------------------------------------------------------

    async def boot_id(self, host: str) -> str:
        """Changes with every boot."""
        return f"{host}-boot-{self._host(host).boot}"

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot; a host in ``never_returns`` stays down past the timeout."""
        state = self._host(host)
        state.up = False
        if host in self.failures.never_returns:
            await self.clock.sleep(timeout_s)
            raise DriverError(f"{host}: did not come back within {timeout_s:.0f} s after reboot")
        await self._take(120, host, "reboot", str(state.boot))
        state.boot += 1
        state.up = True
        return await self.boot_id(host)

    # -- HealthChecker ------------------------------------------------------------------

    async def check(self, host: str) -> HealthResult:
        """Healthy unless down, or patched with a patch that breaks this host's service."""
        state = self._host(host)
        await self._take(5, host, "health", str(len(state.log)))
        if not state.up:
            return HealthResult(False, f"{host}: connection refused")
        if host in self.failures.breaks_health and state.packages != state.original:
            return HealthResult(False, f"{host}: GET /healthz -> 502 (service fails to start)")
        return HealthResult(True, f"{host}: GET /healthz -> 200")

    # -- LoadBalancerDriver -------------------------------------------------------------

    def _member(self, pool: str, member: str) -> _Member:
        try:
            return self.members[(pool, member)]
        except KeyError:
            raise DriverError(f"sim lb: {member!r} is not in pool {pool!r}") from None

    async def drain(self, pool: str, member: str) -> None:
        """Stop new sessions; existing ones finish over the next seconds."""
        m = self._member(pool, member)
        if m.state != "drain":
            m.state = "drain"
            m.drained_at = self.clock.now()
            m.sessions_at_drain = 5 + int(20 * self._jitter(pool, member, "sessions"))

    async def sessions(self, pool: str, member: str) -> int:
        """Open sessions: they drain at about one per second after ``drain``."""
        m = self._member(pool, member)
        if m.state == "ready" or m.drained_at is None:
            return 0 if m.state != "ready" else m.sessions_at_drain or 12
        gone = (self.clock.now() - m.drained_at).total_seconds()
        return max(0, m.sessions_at_drain - int(gone))

    async def enable(self, pool: str, member: str) -> None:
        """Back into rotation."""
        m = self._member(pool, member)
        m.state, m.drained_at = "ready", None

    async def state(self, pool: str, member: str) -> str:
        """``ready`` or ``drain``."""
        return self._member(pool, member).state

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
        if self._host(destination).maintenance:
            raise DriverError(f"cannot migrate {vm} to {destination}: host in maintenance")
        await self._take(60, vm, "migrate", destination)
        self.vm_host[vm] = destination
        self.migrations.append((vm, source, destination))

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Fence a hypervisor off, or bring it back."""
        self._host(host).maintenance = on
