"""Before a real cluster rolling starts: would taking each member out keep the quorum?

The plan is made offline from the inventory; whether a cluster can lose a member now is a
fact only the cluster knows. So ``apply --real`` asks each cluster the plan rolls (through
its driver's ``status``) before anything runs, and refuses, naming the cluster, the
unhealthy members and the fix, when some member of the plan could not leave service without
the cluster losing its quorum. The engine's ``leave`` step checks again before each member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from patchwarden.domain.plan import Plan
from patchwarden.domain.steps import LeaveParams
from patchwarden.drivers.protocols import ClusterDriver, ClusterStatus
from patchwarden.errors import DriverError, Problem

__all__ = ["leaving_members", "quorum_problem", "unsafe_clusters"]


def leaving_members(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Cluster id → the members its plan takes out of service, in plan order."""
    found: dict[str, list[str]] = {}
    for unit in plan.units():
        for step in unit.steps:
            if isinstance(step.params, LeaveParams):
                members = found.setdefault(step.target, [])
                if step.params.member not in members:
                    members.append(step.params.member)
    return {cluster: tuple(members) for cluster, members in found.items()}


def quorum_problem(cluster: str, status: ClusterStatus, leaving: tuple[str, ...]) -> str | None:
    """Why rolling ``leaving`` through ``cluster`` would lose its quorum; ``None`` if it would not.

    Rule: every member to be taken out must leave behind at least a quorum of healthy
    members (members leave one batch at a time and come back before the next).

    Example:
        >>> from patchwarden.drivers.protocols import MemberStatus as M
        >>> ok = ClusterStatus((M("a", True), M("b", True), M("c", True)), leader="a")
        >>> quorum_problem("k", ok, ("a", "b", "c")) is None
        True
        >>> one_down = ClusterStatus((M("a", True), M("b", True), M("c", False)), leader="a")
        >>> print(quorum_problem("k", one_down, ("a", "b", "c")))
        k: c unhealthy; 2 of 3 members healthy, quorum 2: taking out a or b would leave 1
    """
    blocked = [m for m in leaving if not status.survives_without(m)]
    if not blocked:
        return None
    down = [m.name for m in status.members if not m.healthy]
    healthy = len(status.healthy)
    left = healthy - 1 if blocked[0] in status.healthy else healthy
    return (
        f"{cluster}: {', '.join(down) or 'no member'} unhealthy; {healthy} of "
        f"{len(status.members)} members healthy, quorum {status.quorum}: taking out "
        f"{' or '.join(blocked)} would leave {left}"
    )


async def _statuses(
    clusters: ClusterDriver, ids: list[str]
) -> dict[str, ClusterStatus | DriverError]:
    out: dict[str, ClusterStatus | DriverError] = {}
    try:
        for cluster in ids:
            try:
                out[cluster] = await clusters.status(cluster)
            except DriverError as error:
                out[cluster] = error
    finally:
        # The driver's connections belong to this loop; the run opens its own later.
        closing = getattr(clusters, "close", None)
        if closing is not None:
            await closing()
    return out


def unsafe_clusters(
    plan: Plan,
    clusters: ClusterDriver | None,
    sources: Mapping[str, tuple[str, int]],
) -> list[Problem]:
    """One problem per cluster of ``plan`` that cannot roll now without losing its quorum.

    Reads each cluster's status through its driver (on a thread of its own, so a caller
    inside an event loop may call it too). Clusters without a real driver are left to
    :func:`~patchwarden.service.real_checks.missing_drivers`.
    """
    leaving = leaving_members(plan)
    if clusters is None or not leaving:
        return []
    with ThreadPoolExecutor(1) as pool:
        statuses = pool.submit(asyncio.run, _statuses(clusters, list(leaving))).result()
    problems = []
    for cluster, status in statuses.items():
        file, line = sources.get(cluster, ("inventory", 0))
        if isinstance(status, DriverError):
            problems.append(
                Problem(
                    file,
                    line,
                    f"{cluster}.driver_config",
                    f"cannot read the cluster's status: {status}",
                    "check that the members' endpoints answer from this machine",
                )
            )
            continue
        why = quorum_problem(cluster, status, leaving[cluster])
        if why is not None:
            problems.append(
                Problem(
                    file,
                    line,
                    f"{cluster}.members",
                    f"rolling would lose quorum: {why}",
                    "bring the unhealthy members back (or remove them from the cluster's "
                    "membership) so that every member can leave with a quorum left, then "
                    "apply again; nothing has run",
                )
            )
    return problems
