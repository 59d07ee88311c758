"""The benches' drivers: every step costs one action on its host, and nothing else.

``bench_overhead`` runs ``true`` on the host (over SSH or locally); ``bench_scale`` waits
50 ms. Drain states and installed versions are remembered, never read back, so what a run
costs is the engine's work plus one action per step. Nothing reboots and nothing is
weighted or switched: the benches' plans have no such steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from patchwarden.drivers.protocols import HealthResult
from patchwarden.drivers.real import RealClock
from patchwarden.engine.steps import Drivers

Act = Callable[[str], Awaitable[None]]
"""One step's action on a host; raises when it fails."""


@dataclass
class ActingBalancer:
    """A load balancer whose drain and enable each act on the server once."""

    act: Act
    states: dict[str, str] = field(default_factory=dict)

    async def drain(self, pool: str, server: str) -> None:
        """Act, then remember the server is drained."""
        await self.act(server)
        self.states[server] = "drain"

    async def enable(self, pool: str, server: str) -> None:
        """Act, then remember the server is back."""
        await self.act(server)
        self.states[server] = "ready"

    async def state(self, pool: str, server: str) -> str:
        """What the last drain/enable set (no action: the step's one action was its command)."""
        return self.states.get(server, "ready")

    async def sessions(self, pool: str, server: str) -> int:
        """No sessions: nothing is served."""
        return 0

    async def set_weight(self, pool: str, server: str, weight: int) -> None:
        """Not in the benches' plans: nothing to weigh."""

    async def active_side(self, pool: str) -> str:
        """Not in the benches' plans: always the blue side."""
        return "blue"

    async def switch(self, pool: str, side: str) -> None:
        """Not in the benches' plans: nothing to switch."""


@dataclass
class ActingPackages:
    """A package manager whose install acts on the host once; versions are remembered."""

    act: Act
    versions: dict[str, dict[str, str]] = field(default_factory=dict)

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """What the last install set (reading costs no action here)."""
        have = self.versions.get(host, {})
        return {n: have[n] for n in names if n in have}

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Act, then remember the versions."""
        await self.act(host)
        self.versions.setdefault(host, {}).update(targets)


@dataclass
class ActingHealth:
    """A health check that acts on the host once and passes when the action did."""

    act: Act

    async def check(self, host: str) -> HealthResult:
        """Healthy once the action succeeded."""
        await self.act(host)
        return HealthResult(True, "ok")


class NoPower:
    """The benches reboot nothing."""

    async def boot_id(self, host: str) -> str:
        """A fixed boot id: no host restarts."""
        return "bench"

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Not in the benches' plans."""
        raise NotImplementedError("the bench plans have no reboot")


def acting_drivers(act: Act, lb: str) -> Drivers:
    """Drivers whose every step is one ``act`` on its host, on the real clock."""
    return Drivers(
        clock=RealClock(),
        packages=ActingPackages(act),
        power=NoPower(),
        health=ActingHealth(act),
        load_balancers={lb: ActingBalancer(act)},
    )
