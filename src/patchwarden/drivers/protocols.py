"""The small protocols the engine drives. The simulated estate implements every one.

Methods are idempotent where the engine needs them to be (check, then act): draining a
drained server or installing an installed version does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "HealthChecker",
    "HealthResult",
    "HypervisorDriver",
    "LoadBalancerDriver",
    "PackageDriver",
    "PowerDriver",
]


@runtime_checkable
class Clock(Protocol):
    """Time as the engine sees it: real on real hosts, virtual in the simulated estate."""

    def now(self) -> datetime:
        """The current time (aware, UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class PackageDriver(Protocol):
    """Reads and changes installed packages on a host."""

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        ...

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions (upgrade or downgrade), in the given order."""
        ...


class PowerDriver(Protocol):
    """Reboots a host and tells whether it came back."""

    async def boot_id(self, host: str) -> str:
        """An id that changes at every boot."""
        ...

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot and wait for a new boot id; returns it. Raises DriverError on timeout."""
        ...


@dataclass(frozen=True)
class HealthResult:
    """The outcome of a health check."""

    ok: bool
    detail: str = ""


class HealthChecker(Protocol):
    """Checks that an asset serves well."""

    async def check(self, host: str) -> HealthResult:
        """Run the asset's health checks."""
        ...


class LoadBalancerDriver(Protocol):
    """Takes backends out of rotation and back."""

    async def drain(self, pool: str, member: str) -> None:
        """Stop sending new sessions to a backend."""
        ...

    async def sessions(self, pool: str, member: str) -> int:
        """Sessions still open on a backend."""
        ...

    async def enable(self, pool: str, member: str) -> None:
        """Put a backend back into rotation."""
        ...

    async def state(self, pool: str, member: str) -> str:
        """``ready``, ``drain`` or ``maint``."""
        ...


class HypervisorDriver(Protocol):
    """Moves VMs between hypervisors and fences a host off for maintenance."""

    async def placement(self, vm: str) -> str:
        """The hypervisor a VM runs on."""
        ...

    async def migrate(self, vm: str, destination: str) -> None:
        """Live-migrate a VM (no-op if it is already there)."""
        ...

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Fence a hypervisor off (no new VMs) or bring it back."""
        ...
