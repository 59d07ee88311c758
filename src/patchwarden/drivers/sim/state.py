"""What every simulated driver shares: the hosts' state and time with repeatable jitter.

The host-level drivers (:class:`~patchwarden.drivers.sim.estate.SimEstate`), the load
balancers (:mod:`~patchwarden.drivers.sim.lb`) and the platform
(:mod:`~patchwarden.drivers.sim.platform`) are handed these objects; none of them reaches
into another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from patchwarden.drivers.protocols import Clock

__all__ = ["Host", "SimTiming"]


@dataclass
class Host:
    """The simulated state of one host: packages now and at the start, boots, maintenance."""

    packages: dict[str, str]
    original: dict[str, str]
    boot: int = 0
    maintenance: bool = False
    up: bool = True
    log: list[str] = field(default_factory=list)


@dataclass
class SimTiming:
    """The clock the simulation waits on, and the seed its durations are drawn from.

    Durations are fixed by the seed and the names involved, never by call order, so a run
    is repeatable even though units run side by side.

    Example:
        >>> from datetime import UTC, datetime
        >>> from patchwarden.drivers.sim.clock import ScaledClock
        >>> timing = SimTiming(ScaledClock(datetime(2026, 1, 1, tzinfo=UTC)), seed=7)
        >>> timing.jitter("web-01", "reboot") == timing.jitter("web-01", "reboot")
        True
    """

    clock: Clock
    seed: int = 0

    def jitter(self, *parts: str) -> float:
        """A number in [0, 1) fixed by the seed and the names: repeatable, order-free."""
        digest = hashlib.sha256("/".join((str(self.seed), *parts)).encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32

    async def take(self, base_s: float, *parts: str) -> None:
        """Spend about ``base_s`` of simulated time on an action."""
        await self.clock.sleep(base_s * (0.75 + 0.5 * self.jitter(*parts)))
