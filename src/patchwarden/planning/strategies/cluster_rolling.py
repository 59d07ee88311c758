"""Cluster rolling: members one batch at a time, never below quorum, the leader last.

As many members go at once as the quorum allows (members − quorum, at least one); the
leader (master, controller node) hands leadership to an already-patched member first.
"""

from __future__ import annotations

from patchwarden.domain.assets import Cluster
from patchwarden.domain.plan import Batch
from patchwarden.domain.steps import HandoverParams
from patchwarden.planning.context import GroupContext, NoSpareCapacity

__all__ = ["plan_cluster_rolling"]


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
