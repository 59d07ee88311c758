"""A simulated load balancer: pool members with states, weights and blue-green sides."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from patchwarden.drivers.protocols import RequestSample
from patchwarden.errors import DriverError

if TYPE_CHECKING:
    from patchwarden.drivers.sim.estate import SimEstate

__all__ = ["Member", "SimLoadBalancer"]

_REQUESTS_PER_SECOND = 2.0  # per backend at weight 100: enough samples for the statistics


@dataclass
class Member:
    """One backend of a pool."""

    state: str = "ready"
    weight: int = 100
    drained_at: datetime | None = None
    sessions_at_drain: int = 0


class SimLoadBalancer:
    """The load-balancer protocol for one load balancer of a simulated estate."""

    def __init__(self, estate: SimEstate, lb_id: str) -> None:
        self.estate = estate
        self.lb_id = lb_id

    def _member(self, pool: str, member: str) -> Member:
        try:
            return self.estate.members[(self.lb_id, pool, member)]
        except KeyError:
            raise DriverError(f"{self.lb_id}: {member!r} is not in pool {pool!r}") from None

    async def drain(self, pool: str, member: str) -> None:
        """Stop new sessions; existing ones finish over the next seconds."""
        m = self._member(pool, member)
        if m.state != "drain":
            m.state = "drain"
            m.drained_at = self.estate.clock.now()
            m.sessions_at_drain = 5 + int(20 * self.estate.jitter(pool, member, "sessions"))

    async def sessions(self, pool: str, member: str) -> int:
        """Open sessions: they drain at about one per second after ``drain``."""
        m = self._member(pool, member)
        if m.drained_at is None:
            return 0 if m.state != "ready" else 12
        gone = (self.estate.clock.now() - m.drained_at).total_seconds()
        return max(0, m.sessions_at_drain - int(gone))

    async def enable(self, pool: str, member: str) -> None:
        """Back into rotation."""
        m = self._member(pool, member)
        m.state, m.drained_at = "ready", None

    async def state(self, pool: str, member: str) -> str:
        """``ready`` or ``drain``."""
        return self._member(pool, member).state

    async def set_weight(self, pool: str, member: str, weight: int) -> None:
        """Relative share of new sessions."""
        if not 0 <= weight <= 256:
            raise DriverError(f"weight {weight} out of range 0-256")
        self._member(pool, member).weight = weight

    def _sides(self, pool: str) -> dict[str, tuple[str, ...]]:
        try:
            return self.estate.bg_sides[(self.lb_id, pool)]
        except KeyError:
            raise DriverError(f"{self.lb_id}: pool {pool!r} is not blue-green") from None

    async def active_side(self, pool: str) -> str:
        """The side serving traffic."""
        self._sides(pool)
        return self.estate.sides[(self.lb_id, pool)]

    async def switch(self, pool: str, side: str) -> None:
        """All traffic to ``side`` in one step: the other side's members go to maint."""
        sides = self._sides(pool)
        if side not in sides:
            raise DriverError(f"unknown side {side!r}")
        for name, members in sides.items():
            for member in members:
                self._member(pool, member).state = "ready" if name == side else "maint"
        self.estate.sides[(self.lb_id, pool)] = side

    async def samples(self, pool: str, member: str, seconds: float) -> list[RequestSample]:
        """Requests this backend served: errors and added latency if its service is broken."""
        m = self._member(pool, member)
        if m.state != "ready":
            return []
        count = int(seconds * _REQUESTS_PER_SECOND * m.weight / 100)
        stamp = self.estate.clock.now().isoformat(timespec="minutes")
        rng = random.Random(f"{self.estate.seed}/{member}/{stamp}")
        broken = self.estate.degraded(member)
        out = []
        for _ in range(count):
            latency = rng.lognormvariate(3.6, 0.3)  # ~37 ms median, a realistic long tail
            ok = True
            if broken:
                latency += rng.uniform(80, 250)
                ok = rng.random() > 0.2
            out.append(RequestSample(ok=ok, latency_ms=round(latency, 2)))
        return out
