"""Cluster rolling: members one batch at a time, never below quorum, the leader last.

As many members go at once as the quorum allows (members − quorum, at least one); the
leader (master, controller node) hands leadership to an already-patched member first.

A group with this strategy (or ``controller``) takes the clusters it selects together with
their members, and is handed each selected cluster even when the cluster itself has
nothing to install (its members do).
"""

from __future__ import annotations

from collections.abc import Mapping

from patchwarden.domain.assets import AssetBase, Cluster
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch
from patchwarden.domain.steps import HandoverParams
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
    """Batches per cluster; clusters of the group go one after another."""
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
        for i in range(0, len(followers), size):
            units = tuple(ctx.unit_for(m) for m in followers[i : i + size])
            batches.append(Batch(id=f"{ctx.wave_id}/{cluster.id}#{i // size + 1}", units=units))
        if leader is not None and leader in ctx.patches:
            successor = next((m for m in cluster.members if m != leader), leader)
            handover = (cluster.id, HandoverParams(to=successor))
            unit = ctx.unit_for(leader, before=[handover])
            batches.append(Batch(id=f"{ctx.wave_id}/{cluster.id}#leader", units=(unit,)))
    return tuple(batches)


STRATEGY = Strategy("cluster_rolling", plan_cluster_rolling, claim_cluster, keep_clusters)
