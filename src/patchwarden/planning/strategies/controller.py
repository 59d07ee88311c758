"""Controller-based: hand the patch set to the cluster's controller, which distributes it.

One unit per cluster: upload, let the controller roll it out, read back each member's
versions, then check every member's health. Rollback uploads and distributes the versions
the members had before.
"""

from __future__ import annotations

from patchwarden.domain.assets import Cluster
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.planning.context import GroupContext
from patchwarden.planning.steps import step

__all__ = ["plan_controller"]


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
        members = list(cluster.members)
        steps = [
            step(unit_id, 0, StepAction.UPLOAD, cluster.id, packages=wanted),
            step(unit_id, 1, StepAction.DISTRIBUTE, cluster.id, packages=wanted, members=members),
        ]
        steps += [step(unit_id, i + 2, StepAction.HEALTH, m) for i, m in enumerate(members)]
        rollback = (
            step(
                f"{unit_id}/rollback",
                0,
                StepAction.UPLOAD,
                cluster.id,
                undo="distribute",
                only_if=StepAction.DISTRIBUTE,
            ),
            step(
                f"{unit_id}/rollback",
                1,
                StepAction.DISTRIBUTE,
                cluster.id,
                undo="distribute",
                only_if=StepAction.DISTRIBUTE,
            ),
        )
        unit = Unit(id=unit_id, target=cluster.id, steps=tuple(steps), rollback=rollback)
        batches.append(Batch(id=f"{unit_id}#1", units=(unit,)))
    return tuple(batches)
