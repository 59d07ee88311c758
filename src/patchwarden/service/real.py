"""Runs on real hosts: the engine's drivers built from an inventory, and how a run says so.

A real run records ``{"real": {"inventory": [files]}}`` in its summary as soon as it starts,
so ``patchwarden resume`` after a crash (even ``kill -9``) rebuilds the same drivers from
the same inventory files. SSH settings are not stored: they come from the environment of
whoever resumes (``PATCHWARDEN_SSH_KEY``, ``PATCHWARDEN_SSH_KNOWN_HOSTS``).

Example:
    >>> from patchwarden.domain.inventory import Inventory
    >>> run = real_run_drivers(Inventory(assets=()))
    >>> sorted(run.real.transport.transports)
    ['local', 'ssh']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.apt import APT_ENV, AptDriver
from patchwarden.drivers.power import CommandPowerDriver
from patchwarden.drivers.protocols import Clock, LoadBalancerDriver
from patchwarden.drivers.real import RealDrivers, real_drivers
from patchwarden.drivers.ssh import SshConfig
from patchwarden.drivers.transport import Transport
from patchwarden.engine.steps import Drivers
from patchwarden.errors import DriverError, InputError, TransientDriverError
from patchwarden.inventory import read_inventory

__all__ = [
    "DPKG_CONFIGURE_PENDING",
    "NoHypervisors",
    "RealRun",
    "ResumingPackages",
    "ResumingPower",
    "engine_drivers",
    "load_real_inventory",
    "real_inventory_files",
    "real_run_drivers",
    "real_summary",
]


class NoHypervisors:
    """An estate without a hypervisor driver: any hypervisor step is a driver error."""

    async def placement(self, vm: str) -> str:
        """Always fails."""
        raise DriverError(f"no hypervisor driver is configured (asked where {vm!r} runs)")

    async def migrate(self, vm: str, destination: str) -> None:
        """Always fails."""
        raise DriverError(f"no hypervisor driver is configured (asked to move {vm!r})")

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Always fails."""
        raise DriverError(f"no hypervisor driver is configured (asked to set {host!r})")


DPKG_CONFIGURE_PENDING: tuple[str, ...] = ("dpkg", "--configure", "-a")
"""Finishes installs dpkg was interrupted in (what apt itself tells a person to run)."""


class ResumingPackages:
    """The apt driver, finishing first what a killed runner left half-done on the host.

    A runner killed during ``apt-get install`` drops its SSH session, and dpkg on the host
    dies with it, leaving packages unpacked but not configured: apt then refuses every
    install ("dpkg was interrupted"). Resuming must finish that install, not fail the step
    (and its rollback, which apt refuses too), so on that refusal this runs
    :data:`DPKG_CONFIGURE_PENDING` and installs again; the install then finds the target
    configured, and dpkg installs it once, not twice.
    """

    def __init__(self, apt: AptDriver, transport: Transport, timeout_s: float = 1800.0) -> None:
        self.apt = apt
        self.transport = transport
        self.timeout_s = timeout_s

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        return await self.apt.installed(host, names)

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions, configuring interrupted installs first if needed."""
        try:
            await self.apt.install(host, targets)
        except DriverError as error:
            if "dpkg was interrupted" not in str(error):
                raise
            finish = await self.transport.run(
                host, DPKG_CONFIGURE_PENDING, env=APT_ENV, timeout_s=self.timeout_s
            )
            finish.check()
            await self.apt.install(host, targets)


class ResumingPower:
    """The command power driver, whose boot-id read waits out a reboot already under way.

    A runner killed mid-reboot leaves the host away for a while; the resumed reboot step
    first reads the boot id (to tell whether the reboot already happened), and a host that
    does not answer yet is still rebooting, not failed. Waiting up to ``away_s`` for its
    answer lets the step see the new boot id and carry on, instead of failing the unit.
    """

    def __init__(self, power: CommandPowerDriver, away_s: float = 300.0) -> None:
        self.power = power
        self.away_s = away_s

    async def boot_id(self, host: str) -> str:
        """The host's boot id, once it answers (within ``away_s``)."""
        clock = self.power.clock
        since = clock.now()
        while True:
            try:
                return await self.power.boot_id(host)
            except TransientDriverError:
                if (clock.now() - since).total_seconds() >= self.away_s:
                    raise
                await clock.sleep(self.power.poll_s)

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot and wait for a new boot id; returns it."""
        return await self.power.reboot(host, timeout_s)


def engine_drivers(
    real: RealDrivers, load_balancers: Mapping[str, LoadBalancerDriver] | None = None
) -> Drivers:
    """The engine's driver bundle over real package, power and health drivers."""
    return Drivers(
        clock=real.clock,
        packages=ResumingPackages(real.packages, real.transport),
        power=ResumingPower(real.power),
        health=real.health,
        hypervisors=NoHypervisors(),
        load_balancers=dict(load_balancers or {}),
    )


@dataclass(frozen=True)
class RealRun:
    """What a real run drives with: the engine's bundle and the real drivers under it."""

    drivers: Drivers
    real: RealDrivers


def real_run_drivers(
    inventory: Inventory,
    ssh: SshConfig | None = None,
    clock: Clock | None = None,
    *,
    load_balancers: Mapping[str, LoadBalancerDriver] | None = None,
    reboot_poll_s: float = 1.0,
) -> RealRun:
    """Drivers for every host of ``inventory`` reachable over ``ssh`` or ``local``.

    Args:
        inventory: The hosts, with their connections and health checks.
        ssh: SSH settings; default from the environment (:meth:`SshConfig.from_env`).
        clock: Time source; the wall clock by default.
        load_balancers: Load balancer drivers by inventory id, for strategies that drain.
        reboot_poll_s: Pause between boot-id probes while a host reboots.
    """
    real = real_drivers(inventory, ssh or SshConfig.from_env(), clock, reboot_poll_s=reboot_poll_s)
    return RealRun(engine_drivers(real, load_balancers), real)


def real_summary(inventory_files: Sequence[str | Path]) -> dict[str, Any]:
    """The run-summary entry of a real run: its inventory files, absolute.

    Absolute because ``resume`` may run from another directory than ``apply`` did.

    Example:
        >>> real_summary(["/etc/pw/inventory.yaml"])
        {'real': {'inventory': ['/etc/pw/inventory.yaml']}}
    """
    return {"real": {"inventory": [str(Path(f).resolve()) for f in inventory_files]}}


def real_inventory_files(summary: Mapping[str, Any] | None) -> list[str] | None:
    """The inventory files of a real run's summary, or ``None`` when the run was not real."""
    entry = (summary or {}).get("real")
    if not isinstance(entry, Mapping):
        return None
    files = entry.get("inventory")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError("the run's summary names no inventory files to resume on")
    return list(files)


def load_real_inventory(files: Sequence[str]) -> Inventory:
    """The inventory a real run uses; a real run never falls back to the demo estate."""
    if not files:
        raise InputError("a real run needs --inventory: which hosts, reached how")
    return read_inventory(list(files)).inventory
