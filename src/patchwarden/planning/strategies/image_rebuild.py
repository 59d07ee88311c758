"""Offline image: patch the template, boot a test instance, then replace instances.

Instances are replaced, not patched in place, in rolling batches of ``max_unavailable``,
each drained from its load balancer first when it has one. Replacement starts only if the
image built and its test instance was healthy.
"""

from __future__ import annotations

from typing import Any

from patchwarden.domain.assets import Image, Vm
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.planning.context import GroupContext, batch_size
from patchwarden.planning.steps import step

__all__ = ["plan_image_rebuild"]


def plan_image_rebuild(ctx: GroupContext) -> tuple[Batch, ...]:
    """Build + test batch per image, then replacement batches of its instances."""
    batches: list[Batch] = []
    for image in (a for a in ctx.assets if isinstance(a, Image)):
        packages = dict(ctx.patches.get(image.id, ()))
        if not packages:
            continue
        unit_id = f"{ctx.wave_id}/{image.id}"
        build = Unit(
            id=unit_id,
            target=image.id,
            steps=(
                step(unit_id, 0, StepAction.BUILD_IMAGE, image.id, packages=packages),
                step(unit_id, 1, StepAction.TEST_IMAGE, image.id),
            ),
        )
        batches.append(Batch(id=f"{unit_id}#build", units=(build,)))
        instances = [a for a in ctx.assets if isinstance(a, Vm) and a.image == image.id]
        size = batch_size(ctx.spec.max_unavailable, len(instances))
        for i in range(0, len(instances), size):
            units = tuple(_replace_unit(ctx, vm.id, image.id) for vm in instances[i : i + size])
            batches.append(
                Batch(id=f"{unit_id}#replace{i // size + 1}", units=units, requires_success=True)
            )
    return tuple(batches)


def _replace_unit(ctx: GroupContext, vm: str, image: str) -> Unit:
    unit_id = f"{ctx.wave_id}/{vm}"
    member = ctx.lb_of.get(vm)
    where: dict[str, Any] = {"lb": member.lb.id, "pool": member.pool.name} if member else {}
    chain: list[tuple[StepAction, dict[str, Any]]] = []
    if member:
        chain += [(StepAction.DRAIN, where), (StepAction.WAIT_DRAINED, where)]
    chain += [(StepAction.REPLACE, {"image": image}), (StepAction.HEALTH, {})]
    if member:
        chain.append((StepAction.ENABLE, where))
    steps = tuple(step(unit_id, i, a, vm, **p) for i, (a, p) in enumerate(chain))
    undo: list[tuple[StepAction, dict[str, Any]]] = [
        (StepAction.REPLACE, {"undo": "replace", "only_if": StepAction.REPLACE}),
        (StepAction.HEALTH, {"only_if": StepAction.REPLACE}),
    ]
    if member:
        undo.append((StepAction.ENABLE, {**where, "only_if": StepAction.DRAIN}))
    rollback = tuple(step(f"{unit_id}/rollback", i, a, vm, **p) for i, (a, p) in enumerate(undo))
    return Unit(id=unit_id, target=vm, steps=steps, rollback=rollback)
