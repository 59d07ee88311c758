"""Offline image: patch the template, boot a test instance, then replace instances.

Instances are replaced, not patched in place, in rolling batches of ``max_unavailable``,
each drained from its load balancer first when it has one. Replacement starts only if the
image built and its test instance was healthy.

A group with this strategy takes the images it selects together with the VMs built from
each (same environment), and is handed them all: instances are replaced whether or not a
scan found anything on them.
"""

from __future__ import annotations

from collections.abc import Mapping

from patchwarden.domain.assets import AssetBase, Image, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import (
    BuildImageParams,
    DrainParams,
    EnableParams,
    ImageTestParams,
    ReplaceParams,
    StepParams,
    WaitDrainedParams,
)
from patchwarden.planning.context import GroupContext, Strategy, batch_size
from patchwarden.planning.steps import HEALTH, step

__all__ = ["STRATEGY", "claim_image", "plan_image_rebuild"]


def claim_image(
    asset: AssetBase, inventory: Inventory, taken: Mapping[str, str]
) -> tuple[str, ...]:
    """An image and the VMs of its environment built from it that no earlier group took.

    Anything that is not an image is left for other groups.
    """
    if not isinstance(asset, Image):
        return ()
    instances = (
        a.id
        for a in inventory.assets
        if isinstance(a, Vm) and a.image == asset.id and a.env == asset.env and a.id not in taken
    )
    return (asset.id, *instances)


def _keep_all(asset: AssetBase, has_work: bool) -> bool:
    return True


def plan_image_rebuild(ctx: GroupContext) -> tuple[Batch, ...]:
    """Build + test batch per image, then replacement batches of its instances."""
    batches: list[Batch] = []
    for image in (a for a in ctx.assets if isinstance(a, Image)):
        packages = tuple(dict(ctx.patches.get(image.id, ())).items())
        if not packages:
            continue
        unit_id = f"{ctx.wave_id}/{image.id}"
        build = Unit(
            id=unit_id,
            target=image.id,
            steps=(
                step(unit_id, 0, BuildImageParams(packages=packages), image.id),
                step(unit_id, 1, ImageTestParams(), image.id),
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
    chain: list[StepParams] = []
    if member:
        lb, pool = member.lb.id, member.pool.name
        chain += [DrainParams(lb=lb, pool=pool), WaitDrainedParams(lb=lb, pool=pool)]
    chain += [ReplaceParams(image=image), HEALTH]
    if member:
        chain.append(EnableParams(lb=lb, pool=pool))
    steps = tuple(step(unit_id, i, params, vm) for i, params in enumerate(chain))
    # Rollback re-creates the instance from the image it ran, out of rotation as forward.
    undo: list[tuple[StepParams, StepAction]] = []
    if member:
        undo += [
            (DrainParams(lb=lb, pool=pool), StepAction.REPLACE),
            (WaitDrainedParams(lb=lb, pool=pool), StepAction.REPLACE),
        ]
    undo += [
        (ReplaceParams(undo=StepAction.REPLACE), StepAction.REPLACE),
        (HEALTH, StepAction.REPLACE),
    ]
    if member:
        undo.append((EnableParams(lb=lb, pool=pool), StepAction.DRAIN))
    rollback = tuple(
        step(f"{unit_id}/rollback", i, params, vm, only_if=only_if)
        for i, (params, only_if) in enumerate(undo)
    )
    return Unit(id=unit_id, target=vm, steps=steps, rollback=rollback)


STRATEGY = Strategy("image_rebuild", plan_image_rebuild, claim_image, _keep_all)
