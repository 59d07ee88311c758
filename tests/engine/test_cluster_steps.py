"""The engine's ``leave`` and ``rejoin`` cluster steps, over a cluster whose state a test sets.

The cluster here is a test double of the :class:`ClusterDriver` protocol (the logic under
test is the engine's: when to move leadership, when to refuse, when a member counts as
back); the etcd driver itself is tested against a real etcd cluster in ``tests/lab``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from patchwarden.domain.steps import LeaveParams, RejoinParams
from patchwarden.drivers.protocols import ClusterStatus, MemberStatus
from patchwarden.drivers.sim import ScaledClock
from patchwarden.engine.cluster_steps import leave, rejoin
from patchwarden.engine.drivers import Drivers
from patchwarden.errors import DriverError


@dataclass
class Cluster:
    """Three members; ``down`` are unhealthy; ``index`` per member; ``current`` leads."""

    current: str = "a"
    down: set[str] = field(default_factory=set)
    index: dict[str, int] = field(default_factory=lambda: {"a": 10, "b": 10, "c": 10})
    moves: list[str] = field(default_factory=list)
    reads: int = 0
    catch_up_after: int = 0  # status reads until a behind member catches up

    async def status(self, cluster: str) -> ClusterStatus:
        if cluster != "k":
            raise DriverError("no such cluster")
        self.reads += 1
        if self.reads > self.catch_up_after:
            self.down.discard("c")
            self.index["c"] = max(self.index.values())
        members = tuple(MemberStatus(m, m not in self.down, self.index[m]) for m in "abc")
        return ClusterStatus(members, leader=self.current)

    async def leader(self, cluster: str) -> str:
        return self.current

    async def handover(self, cluster: str, to: str) -> None:
        self.moves.append(to)
        self.current = to

    async def upload(self, cluster: str, packages: Mapping[str, str]) -> None:
        raise DriverError("no controller")

    async def distribute(self, cluster: str) -> dict[str, dict[str, str]]:
        raise DriverError("no controller")


def _drivers(cluster: Cluster) -> Drivers:
    clock = ScaledClock(datetime(2026, 11, 24, tzinfo=UTC), speed=10_000)
    return Drivers(
        clock=clock,
        packages=None,  # type: ignore[arg-type]  # these steps never touch packages
        power=None,  # type: ignore[arg-type]  # nor power
        health=None,  # type: ignore[arg-type]  # nor host health
        load_balancers={},
        clusters=cluster,
    )


def test_a_follower_leaves_without_a_leader_move() -> None:
    cluster = Cluster(current="a", catch_up_after=99)
    done = asyncio.run(leave(_drivers(cluster), "k", LeaveParams(member="b", prefer=("c",))))
    assert cluster.moves == [] and done["leader"] == "a" and done["quorum"] == 2


def test_the_leader_hands_over_to_the_first_healthy_preferred_member() -> None:
    cluster = Cluster(current="a", catch_up_after=99)
    done = asyncio.run(leave(_drivers(cluster), "k", LeaveParams(member="a", prefer=("c", "b"))))
    assert cluster.moves == ["c"]
    assert done["leadership_from"] == "a" and done["leadership_to"] == "c"


def test_leaving_is_refused_when_quorum_would_be_lost_and_nothing_moves() -> None:
    cluster = Cluster(current="a", down={"c"}, catch_up_after=99)
    with pytest.raises(DriverError, match="would lose quorum"):
        asyncio.run(leave(_drivers(cluster), "k", LeaveParams(member="a", prefer=("b",))))
    assert cluster.moves == [] and cluster.current == "a"


def test_a_stranger_is_refused() -> None:
    with pytest.raises(DriverError, match="not a member"):
        asyncio.run(leave(_drivers(Cluster()), "k", LeaveParams(member="z")))


def test_rejoin_waits_until_the_member_is_healthy_and_caught_up() -> None:
    cluster = Cluster(current="a", down={"c"}, catch_up_after=5)
    cluster.index.update(a=50, b=50, c=7)
    done = asyncio.run(rejoin(_drivers(cluster), "k", RejoinParams(member="c"), 60.0))
    assert done["raft_index"] >= done["leader_index"] == 50
    assert cluster.reads > 5, "it kept reading until the member was back"


def test_rejoin_gives_up_after_its_timeout() -> None:
    cluster = Cluster(current="a", down={"c"}, catch_up_after=10**9)
    with pytest.raises(DriverError, match="has not rejoined after 2 s"):
        asyncio.run(rejoin(_drivers(cluster), "k", RejoinParams(member="c"), 2.0))
