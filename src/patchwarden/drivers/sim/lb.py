"""A simulated load balancer: pool members with states, weights and blue-green sides."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.protocols import RequestSample
from patchwarden.drivers.sim.state import SimTiming
from patchwarden.errors import DriverError

__all__ = ["Member", "PoolState", "SimLoadBalancer"]

_REQUESTS_PER_SECOND = 2.0  # per backend at weight 100: enough samples for the statistics

MemberKey = tuple[str, str, str]
"""``(load balancer, pool, member)``."""


@dataclass
class Member:
    """One backend of a pool."""

    state: str = "ready"
    weight: int = 100
    drained_at: datetime | None = None
    sessions_at_drain: int = 0


@dataclass
class PoolState:
    """Every pool member of every load balancer in the estate, and each blue-green side."""

    members: dict[MemberKey, Member] = field(default_factory=dict)
    sides: dict[tuple[str, str], str] = field(default_factory=dict)
    """The active side of each blue-green pool, by ``(load balancer, pool)``."""
    bg_sides: dict[tuple[str, str], dict[str, tuple[str, ...]]] = field(default_factory=dict)
    """The members of each side of each blue-green pool, as the inventory has them."""

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> PoolState:
        """Members ready at weight 100; the inactive side of a blue-green pool in maint."""
        pools = cls()
        for asset in inventory.assets:
            if not isinstance(asset, LoadBalancer):
                continue
            for pool in asset.pools:
                for member in pool.all_members():
                    pools.members[(asset.id, pool.name, member)] = Member()
                bg = pool.blue_green
                if bg is not None:
                    pools.sides[(asset.id, pool.name)] = bg.active
                    for member in bg.blue if bg.active == "green" else bg.green:
                        pools.members[(asset.id, pool.name, member)].state = "maint"
                    pools.bg_sides[(asset.id, pool.name)] = {"blue": bg.blue, "green": bg.green}
        return pools

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready member states, weights and active sides."""
        return {
            "members": {
                "/".join(k): {"state": m.state, "weight": m.weight} for k, m in self.members.items()
            },
            "sides": {"/".join(k): v for k, v in self.sides.items()},
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Put back what :meth:`snapshot` took (sessions of a drain in progress are gone)."""
        for key, member in data["members"].items():
            lb, pool, name = key.split("/")
            m = self.members[(lb, pool, name)]
            m.state, m.weight, m.drained_at = member["state"], member["weight"], None
        self.sides = {}
        for key, side in data["sides"].items():
            lb, pool = key.split("/")
            self.sides[(lb, pool)] = side


class SimLoadBalancer:
    """The load-balancer protocol for one load balancer of a simulated estate.

    Args:
        lb_id: The load balancer's inventory id.
        pools: The estate's pool state, shared by every load balancer.
        timing: The estate's clock and seed.
        degraded: Whether a member serves badly now (errors and added latency).
    """

    def __init__(
        self, lb_id: str, pools: PoolState, timing: SimTiming, degraded: Callable[[str], bool]
    ) -> None:
        self.lb_id = lb_id
        self.pools = pools
        self.timing = timing
        self.degraded = degraded

    def _member(self, pool: str, member: str) -> Member:
        try:
            return self.pools.members[(self.lb_id, pool, member)]
        except KeyError:
            raise DriverError(f"{self.lb_id}: {member!r} is not in pool {pool!r}") from None

    async def drain(self, pool: str, member: str) -> None:
        """Stop new sessions; existing ones finish over the next seconds."""
        m = self._member(pool, member)
        if m.state != "drain":
            m.state = "drain"
            m.drained_at = self.timing.clock.now()
            m.sessions_at_drain = 5 + int(20 * self.timing.jitter(pool, member, "sessions"))

    async def sessions(self, pool: str, member: str) -> int:
        """Open sessions: they drain at about one per second after ``drain``."""
        m = self._member(pool, member)
        if m.drained_at is None:
            return 0 if m.state != "ready" else 12
        gone = (self.timing.clock.now() - m.drained_at).total_seconds()
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
            return self.pools.bg_sides[(self.lb_id, pool)]
        except KeyError:
            raise DriverError(f"{self.lb_id}: pool {pool!r} is not blue-green") from None

    async def active_side(self, pool: str) -> str:
        """The side serving traffic."""
        self._sides(pool)
        return self.pools.sides[(self.lb_id, pool)]

    async def switch(self, pool: str, side: str) -> None:
        """All traffic to ``side`` in one step: the other side's members go to maint."""
        sides = self._sides(pool)
        if side not in sides:
            raise DriverError(f"unknown side {side!r}")
        for name, members in sides.items():
            for member in members:
                self._member(pool, member).state = "ready" if name == side else "maint"
        self.pools.sides[(self.lb_id, pool)] = side

    async def watch(self) -> None:
        """Nothing to start: samples are drawn when asked for."""

    async def samples(self, pool: str, member: str, seconds: float) -> list[RequestSample]:
        """Requests this backend served: errors and added latency if its service is broken."""
        m = self._member(pool, member)
        if m.state != "ready":
            return []
        count = int(seconds * _REQUESTS_PER_SECOND * m.weight / 100)
        stamp = self.timing.clock.now().isoformat(timespec="minutes")
        rng = random.Random(f"{self.timing.seed}/{member}/{stamp}")
        broken = self.degraded(member)
        out = []
        for _ in range(count):
            latency = rng.lognormvariate(3.6, 0.3)  # ~37 ms median, a realistic long tail
            ok = True
            if broken:
                latency += rng.uniform(80, 250)
                ok = rng.random() > 0.2
            out.append(RequestSample(ok=ok, latency_ms=round(latency, 2)))
        return out
