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
from patchwarden.drivers.protocols import Clock, LoadBalancerDriver
from patchwarden.drivers.real import RealDrivers, real_drivers
from patchwarden.drivers.ssh import SshConfig
from patchwarden.engine.steps import Drivers
from patchwarden.errors import DriverError, InputError
from patchwarden.inventory import read_inventory

__all__ = [
    "HostPackages",
    "NoHypervisors",
    "RealRun",
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


class HostPackages:
    """Each host's own package manager: dnf on the RHEL family, apt on the others."""

    def __init__(self, real: RealDrivers) -> None:
        self.real = real

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        return await self.real.packages_for(host).installed(host, names)

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions with the host's package manager."""
        await self.real.packages_for(host).install(host, targets)


def engine_drivers(
    real: RealDrivers, load_balancers: Mapping[str, LoadBalancerDriver] | None = None
) -> Drivers:
    """The engine's driver bundle over real package, power and health drivers."""
    return Drivers(
        clock=real.clock,
        packages=HostPackages(real),
        power=real.power,
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
