"""HA pair of virtual appliances: standby first, fail over, then the other.

Each unit first makes sure which member is active (fail-over is a no-op when it already
is), so the plan does not depend on guessing the pair's state at planning time. With the
group's ``fail_back``, the second member's unit ends by failing over again, to the member
that served while the standby was patched: the pair ends as it served before the run.
"""

from __future__ import annotations

from patchwarden.domain.assets import VirtualAppliance
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import FailoverParams, FirmwareParams, StepParams
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import HEALTH, step

__all__ = ["STRATEGY", "plan_ha_pair"]


def _unit(ctx: GroupContext, target: str, keep_active: str | None, fail_back: bool = False) -> Unit:
    unit_id = f"{ctx.wave_id}/{target}"
    chain: list[StepParams] = []
    if keep_active is not None:
        chain.append(FailoverParams(to=keep_active))
    chain += [FirmwareParams(version=ctx.firmware[target]), HEALTH]
    if fail_back and keep_active is not None:
        chain.append(FailoverParams(to=target))
    steps = tuple(step(unit_id, i, params, target) for i, params in enumerate(chain))
    # The firmware goes back only on a standby: fail over to the peer first when there is one.
    undo: list[StepParams] = []
    if keep_active is not None:
        undo.append(FailoverParams(to=keep_active))
    undo += [FirmwareParams(undo=StepAction.FIRMWARE), HEALTH]
    rollback = tuple(
        step(f"{unit_id}/rollback", i, params, target, only_if=StepAction.FIRMWARE)
        for i, params in enumerate(undo)
    )
    return Unit(id=unit_id, target=target, steps=steps, rollback=rollback)


def plan_ha_pair(ctx: GroupContext) -> tuple[Batch, ...]:
    """Per pair: the standby (with its peer made active), then the peer after fail-over."""
    chosen = {
        a.id: a for a in ctx.assets if isinstance(a, VirtualAppliance) and a.id in ctx.firmware
    }
    batches: list[Batch] = []
    seen: set[str] = set()
    for app_id in sorted(chosen):
        if app_id in seen:
            continue
        appliance = chosen[app_id]
        peer = appliance.ha_peer
        if peer is None:
            batches.append(Batch(id=f"{ctx.wave_id}/{app_id}#1", units=(_unit(ctx, app_id, None),)))
            seen.add(app_id)
            continue
        first, second = sorted((app_id, peer))
        seen |= {first, second}
        # `second` is patched as the standby while `first` serves; then the roles swap.
        batches.append(
            Batch(id=f"{ctx.wave_id}/{first}+{second}#standby", units=(_unit(ctx, second, first),))
        )
        if first in chosen:
            batches.append(
                Batch(
                    id=f"{ctx.wave_id}/{first}+{second}#failover",
                    units=(_unit(ctx, first, second, ctx.spec.fail_back),),
                    requires_success=True,
                )
            )
    return tuple(batches)


STRATEGY = Strategy("ha_pair", plan_ha_pair)
