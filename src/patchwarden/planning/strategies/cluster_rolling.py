"""Cluster rolling: members one batch at a time, never below quorum, the leader last.

As many members go at once as the quorum allows (members − quorum, at least one); the
leader (master, controller node) goes last. Before each member leaves service the cluster's
own API must show quorum holding without it (leadership moved to an up-to-date member if it
leads); after its patch it must be healthy and caught up with the leader before the next.

A group with this strategy (or ``controller``) takes the clusters it selects together with
their members, and is handed each selected cluster even when the cluster itself has
nothing to install (its members do).
"""

from __future__ import annotations

from collections.abc import Mapping

from patchwarden.domain.assets import AssetBase, Cluster
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Unit
from patchwarden.domain.steps import LeaveParams, RejoinParams
from patchwarden.planning.context import GroupContext, NoSpareCapacity, Strategy

__all__ = ["STRATEGY", "claim_cluster", "keep_clusters", "plan_cluster_rolling"]


def claim_cluster(
    asset: AssetBase, inventory: Inventory, taken: Mapping[str, str]
) -> tuple[str, ...]:
    """A cluster and those of its members no earlier group took; nothing that is no cluster.

    >>> from patchwarden.domain.assets import Vm
    >>> pg = Cluster(id="pg", kind="cluster", env="dev", members=("a", "b"))
    >>> claim_cluster(pg, Inventory(), {"a": "web"})
    ('pg', 'b')
    >>> claim_cluster(Vm(id="a", kind="vm", env="dev"), Inventory(), {})
    ()
    """
    if not isinstance(asset, Cluster):
        return ()
    return (asset.id, *(m for m in asset.members if m not in taken))


def keep_clusters(asset: AssetBase, has_work: bool) -> bool:
    """Members with work, and every cluster: its plan is made from its member list."""
    return has_work or isinstance(asset, Cluster)


def plan_cluster_rolling(ctx: GroupContext) -> tuple[Batch, ...]:
    """Batches per cluster; clusters of the group go one after another.

    Each member's unit is wrapped in the cluster's own checks: ``leave`` before (leadership
    moved away if it leads, refused unless quorum holds without it) and ``rejoin`` after
    (healthy and caught up with the leader) before the next batch starts. A member that
    leads hands over to members already up to date first (those without work, then those
    patched in earlier batches), else to the member patched last.
    """
    batches: list[Batch] = []
    for cluster in (a for a in ctx.assets if isinstance(a, Cluster)):
        leader = cluster.controller if cluster.controller in cluster.members else None
        followers = [m for m in cluster.members if m != leader and m in ctx.patches]
        spare = len(cluster.members) - (cluster.quorum or len(cluster.members) - 1)
        if spare < 1:
            raise NoSpareCapacity(
                f"cluster {cluster.id}: quorum {cluster.quorum} of {len(cluster.members)} "
                "members leaves none to take out; add a member or use the controller strategy"
            )
        size = min(spare, ctx.spec.max_parallel)
        parts = [followers[i : i + size] for i in range(0, len(followers), size)]
        if leader is not None and leader in ctx.patches:
            parts.append([leader])  # alone, and last
        done = [m for m in cluster.members if m not in ctx.patches]
        for number, part in enumerate(parts, start=1):
            later = [m for rest in parts[number:] for m in rest]
            # Leadership goes to an up-to-date member, else to the one patched last.
            prefer = (*done, *reversed(later))
            units = tuple(_member_unit(ctx, cluster.id, m, prefer) for m in part)
            name = "leader" if part == [leader] else str(number)
            batches.append(Batch(id=f"{ctx.wave_id}/{cluster.id}#{name}", units=units))
            done += part
    return tuple(batches)


def _member_unit(ctx: GroupContext, cluster: str, member: str, prefer: tuple[str, ...]) -> Unit:
    leave = (cluster, LeaveParams(member=member, prefer=prefer))
    rejoin = (cluster, RejoinParams(member=member))
    return ctx.unit_for(member, before=[leave], after=[rejoin])


STRATEGY = Strategy("cluster_rolling", plan_cluster_rolling, claim_cluster, keep_clusters)
