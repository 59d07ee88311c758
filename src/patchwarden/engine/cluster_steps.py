"""A quorum cluster's member out of service and back: check through the cluster's API, then act.

``leave`` runs before a member is touched: if it leads, leadership moves to a healthy
member (the plan's preference first: members already up to date), and the cluster must
still make a quorum without it, or the step fails and the member is left alone. ``rejoin``
runs after its patch and health check: the member must be healthy again and have applied
the log up to where the leader stood when the wait began, so the next member leaves only
once this one can vote again.
"""

from __future__ import annotations

from typing import Any

from patchwarden.domain.steps import LeaveParams, RejoinParams
from patchwarden.drivers.protocols import ClusterDriver, ClusterStatus
from patchwarden.engine.drivers import Drivers, required
from patchwarden.errors import DriverError

__all__ = ["POLL_S", "leave", "rejoin", "successor"]

POLL_S = 0.25
"""Seconds (of the run's clock) between two reads of a rejoining member's status."""


def successor(status: ClusterStatus, member: str, prefer: tuple[str, ...]) -> str | None:
    """Who takes over leadership from ``member``.

    Rule: the first healthy member of ``prefer``, else the first other healthy member;
    ``None`` when no other member is healthy.

    Example:
        >>> from patchwarden.drivers.protocols import MemberStatus as M
        >>> s = ClusterStatus((M("a", True), M("b", False), M("c", True)), leader="a")
        >>> successor(s, "a", ("b", "c")), successor(s, "a", ()), successor(s, "c", ("c",))
        ('c', 'c', 'a')
    """
    healthy = [m for m in status.healthy if m != member]
    return next((m for m in prefer if m in healthy), None) or next(iter(healthy), None)


def _require_member(status: ClusterStatus, cluster: str, member: str) -> None:
    if status.member(member) is None:
        names = ", ".join(m.name for m in status.members)
        raise DriverError(f"{cluster}: {member!r} is not a member (members: {names})")


def _no_quorum(status: ClusterStatus, cluster: str, member: str) -> str:
    return (
        f"{cluster}: taking {member} out of service would lose quorum: healthy "
        f"{', '.join(status.healthy) or 'none'}, quorum {status.quorum} of "
        f"{len(status.members)}; bring the unhealthy members back first"
    )


async def leave(d: Drivers, cluster: str, p: LeaveParams) -> dict[str, Any]:
    """Move leadership off ``p.member`` if it leads; fail unless quorum holds without it."""
    clusters: ClusterDriver = required(d.clusters, "clusters")
    status = await clusters.status(cluster)
    _require_member(status, cluster, p.member)
    if not status.survives_without(p.member):
        raise DriverError(_no_quorum(status, cluster, p.member))
    moved: dict[str, Any] = {}
    if status.leader == p.member:
        to = successor(status, p.member, p.prefer)
        if to is None:
            raise DriverError(f"{cluster}: no healthy member to take over from {p.member}")
        await clusters.handover(cluster, to)
        moved = {"leadership_from": p.member, "leadership_to": to}
        status = await clusters.status(cluster)
        if status.leader == p.member:
            raise DriverError(f"{cluster}: {p.member} still leads after handing over to {to}")
        if not status.survives_without(p.member):
            raise DriverError(_no_quorum(status, cluster, p.member))
    return {
        "leader": status.leader,
        "healthy": list(status.healthy),
        "quorum": status.quorum,
        **moved,
    }


async def rejoin(d: Drivers, cluster: str, p: RejoinParams, timeout_s: float) -> dict[str, Any]:
    """Wait until ``p.member`` is healthy and caught up with the leader; fail after the timeout."""
    clusters: ClusterDriver = required(d.clusters, "clusters")
    first = await clusters.status(cluster)
    _require_member(first, cluster, p.member)
    lead = first.member(first.leader) if first.leader else None
    target = lead.raft_index if lead is not None and lead.healthy else None
    waited = 0.0
    while True:
        status = await clusters.status(cluster)
        member = status.member(p.member)
        index = member.raft_index if member is not None else None
        caught_up = target is None or (index is not None and index >= target)
        if member is not None and member.healthy and caught_up and status.leader:
            return {
                "leader": status.leader,
                "raft_index": index,
                "leader_index": target,
                "waited_s": round(waited, 2),
            }
        if waited >= timeout_s:
            state = "healthy" if member is not None and member.healthy else "not healthy"
            raise DriverError(
                f"{cluster}: {p.member} has not rejoined after {timeout_s:.0f} s "
                f"({state}, applied index {index}, leader was at {target})"
            )
        await d.clock.sleep(POLL_S)
        waited += POLL_S
