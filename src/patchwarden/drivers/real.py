"""Real drivers for an inventory: each host reached as its ``connection`` says.

The engine's ``Drivers`` bundle is assembled by the caller (drivers never import the
engine); :func:`real_drivers` returns the pieces, all sharing one transport so that a scan,
an install and a reboot of the same host reuse one pooled connection.

Example:
    >>> from patchwarden.domain.inventory import Inventory
    >>> real = real_drivers(Inventory(assets=()))
    >>> sorted(real.transport.transports)
    ['local', 'ssh']
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from patchwarden.domain.assets import Connection, HealthCheck
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.dnf import DnfDriver
from patchwarden.drivers.health import CheckRunner
from patchwarden.drivers.power import CommandPowerDriver
from patchwarden.drivers.protocols import Clock
from patchwarden.drivers.ssh import SshConfig, SshTransport
from patchwarden.drivers.transport import CommandResult, LocalTransport, Transport
from patchwarden.errors import DriverError

__all__ = [
    "RPM_FAMILIES",
    "HostRouter",
    "RealClock",
    "RealDrivers",
    "host_connections",
    "real_drivers",
]

RPM_FAMILIES = frozenset({"rhel", "alma", "rocky"})
"""OS families patched with dnf; every other family with an ``os`` is patched with apt."""


class RealClock:
    """Wall-clock time (UTC) and real sleeps: the clock of real campaigns."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))


class HostRouter:
    """A :class:`Transport` sending each host's commands to its connection's transport."""

    def __init__(
        self, connections: Mapping[str, Connection], transports: Mapping[str, Transport]
    ) -> None:
        self.connections = dict(connections)
        self.transports = dict(transports)

    def _for(self, host: str) -> Transport:
        connection = self.connections.get(host)
        if connection is None:
            raise DriverError(f"{host}: no connection in the inventory")
        try:
            return self.transports[connection.transport]
        except KeyError:
            raise DriverError(f"{host}: no real transport for {connection.transport!r}") from None

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run through the host's transport."""
        return await self._for(host).run(host, argv, env=env, timeout_s=timeout_s)

    async def disconnect(self, host: str) -> None:
        """Forget the host's connection."""
        await self._for(host).disconnect(host)

    async def close(self) -> None:
        """Close every transport."""
        await asyncio.gather(*(t.close() for t in self.transports.values()))


@dataclass
class RealDrivers:
    """The real package, power and health drivers over one shared transport."""

    transport: HostRouter
    packages: AptDriver
    power: CommandPowerDriver
    health: CheckRunner
    clock: Clock
    dnf: DnfDriver | None = None
    rpm_hosts: frozenset[str] = frozenset()

    def packages_for(self, host: str) -> AptDriver | DnfDriver:
        """The host's package driver: dnf for RHEL-family hosts, apt for the others."""
        if host in self.rpm_hosts and self.dnf is not None:
            return self.dnf
        return self.packages

    async def close(self) -> None:
        """Close pooled connections."""
        await self.transport.close()


def host_connections(inventory: Inventory) -> dict[str, Connection]:
    """Asset id → connection, for assets reachable for real (not ``sim``)."""
    return {
        asset.id: asset.connection
        for asset in inventory.assets
        if asset.connection is not None and asset.connection.transport != "sim"
    }


def real_drivers(
    inventory: Inventory,
    ssh: SshConfig | None = None,
    clock: Clock | None = None,
    *,
    reboot_poll_s: float = 1.0,
) -> RealDrivers:
    """Real drivers for every host of ``inventory`` with an ``ssh`` or ``local`` connection."""
    connections = host_connections(inventory)
    ssh_hosts = {k: c for k, c in connections.items() if c.transport == "ssh"}
    router = HostRouter(
        connections,
        {"ssh": SshTransport(ssh_hosts, ssh or SshConfig.from_env()), "local": LocalTransport()},
    )
    checks: dict[str, tuple[HealthCheck, ...]] = {a.id: a.health for a in inventory.assets}
    real_clock = clock or RealClock()
    return RealDrivers(
        transport=router,
        packages=AptDriver(router),
        power=CommandPowerDriver(router, connections, real_clock, poll_s=reboot_poll_s),
        health=CheckRunner(checks, router, {k: c.address for k, c in connections.items()}),
        clock=real_clock,
        dnf=DnfDriver(router),
        rpm_hosts=frozenset(
            a.id for a in inventory.assets if a.os is not None and a.os.family in RPM_FAMILIES
        ),
    )
