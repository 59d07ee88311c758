"""Controller-based: hand the patch set to the cluster's controller, which distributes it.

One unit per cluster: upload, let the controller roll it out, read back each member's
versions, then check every member's health. Rollback uploads and distributes the versions
the members had before.
"""

from __future__ import annotations

from patchwarden.domain.assets import Cluster
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import DistributeParams, UploadParams
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import HEALTH, step
from patchwarden.planning.strategies.cluster_rolling import claim_cluster, keep_clusters

__all__ = ["STRATEGY", "plan_controller"]


def plan_controller(ctx: GroupContext) -> tuple[Batch, ...]:
    """One batch per cluster with its single controller unit."""
    batches = []
    for cluster in (a for a in ctx.assets if isinstance(a, Cluster)):
        wanted: dict[str, str] = {}
        for member in cluster.members:
            for name, version in ctx.patches.get(member, ()):
                wanted.setdefault(name, version)
        if not wanted:
            continue
        unit_id = f"{ctx.wave_id}/{cluster.id}"
        members = tuple(cluster.members)
        pins = tuple(wanted.items())
        steps = [
            step(unit_id, 0, UploadParams(packages=pins), cluster.id),
            step(unit_id, 1, DistributeParams(packages=pins, members=members), cluster.id),
        ]
        steps += [step(unit_id, i + 2, HEALTH, m) for i, m in enumerate(members)]
        # Both undo the distribution: upload and hand out what most members had before it.
        back = StepAction.DISTRIBUTE
        rollback = (
            step(f"{unit_id}/rollback", 0, UploadParams(undo=back), cluster.id, only_if=back),
            step(f"{unit_id}/rollback", 1, DistributeParams(undo=back), cluster.id, only_if=back),
        )
        unit = Unit(id=unit_id, target=cluster.id, steps=tuple(steps), rollback=rollback)
        batches.append(Batch(id=f"{unit_id}#1", units=(unit,)))
    return tuple(batches)


STRATEGY = Strategy("controller", plan_controller, claim_cluster, keep_clusters)
