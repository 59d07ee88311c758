"""Blue-green: patch and test the standby side while the active side serves, then switch.

The switch is one atomic step on the load balancer; the old side is kept as it was for a
bake time, so flipping back is instant (the switch unit's rollback). The bake watches the
new side (health checks, and the error rate of the requests it answers): a failure flips
back and puts the new side back on its previous versions. Only after the bake is the old
side patched too, so both sides end on the same patch level.
"""

from __future__ import annotations

from dataclasses import replace

from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import BakeParams, RestoreParams, StepParams, SwitchParams
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import HEALTH, REBOOT, step
from patchwarden.planning.strategies.rolling import plan_rolling

__all__ = ["STRATEGY", "plan_blue_green"]


def plan_blue_green(ctx: GroupContext) -> tuple[Batch, ...]:
    """Standby side, switch + bake, then the old side; hosts outside a blue-green pool roll."""
    chosen = {a.id for a in ctx.assets}
    batches: list[Batch] = []
    done: set[str] = set()
    pools = {
        (ctx.lb_of[a].lb.id, ctx.lb_of[a].pool.name): ctx.lb_of[a]
        for a in sorted(chosen)
        if a in ctx.lb_of
    }
    for member in pools.values():
        bg = member.pool.blue_green
        if bg is None:
            continue
        standby_side = "blue" if bg.active == "green" else "green"
        standby = bg.blue if standby_side == "blue" else bg.green
        active = bg.green if standby_side == "blue" else bg.blue
        where = (member.lb.id, member.pool.name)
        pool_id = f"{ctx.wave_id}/{member.lb.id}.{member.pool.name}"
        standby_units = tuple(ctx.unit_for(h) for h in standby if h in chosen)
        batches.append(Batch(id=f"{pool_id}#standby", units=standby_units))
        batches.append(
            Batch(
                id=f"{pool_id}#switch",
                units=(_switch_unit(ctx, where, standby_side, standby, standby_units),),
                requires_success=True,
            )
        )
        batches.append(
            Batch(
                id=f"{pool_id}#old-side",
                units=tuple(ctx.unit_for(h) for h in active if h in chosen),
                requires_success=True,
            )
        )
        done |= set(standby) | set(active)
    rest = [a for a in ctx.assets if a.id not in done]
    if rest:
        batches.extend(plan_rolling(replace(ctx, assets=tuple(rest))))
    return tuple(b for b in batches if b.units)


def _switch_unit(
    ctx: GroupContext,
    where: tuple[str, str],
    side: str,
    hosts: tuple[str, ...],
    patched: tuple[Unit, ...],
) -> Unit:
    """Switch, health of the new side, bake; its rollback flips back and undoes the new side.

    A new side that failed its bake is not left on the build that failed: after the flip
    back, each of its hosts gets its previous versions again (and a reboot where its patch
    had one), out of traffic since the old side serves.
    """
    lb, pool = where
    unit_id = f"{ctx.wave_id}/{lb}.{pool}-switch"
    target = f"{lb}/{pool}"
    steps = [step(unit_id, 0, SwitchParams(lb=lb, pool=pool, side=side), target)]
    steps += [step(unit_id, i + 1, HEALTH, h) for i, h in enumerate(hosts)]
    bake = BakeParams(
        lb=lb,
        pool=pool,
        seconds=ctx.spec.bake_s,
        members=hosts,
        max_error_rate=ctx.spec.bake_max_error_rate,
    )
    steps.append(step(unit_id, len(steps), bake, target))
    flip_back = SwitchParams(lb=lb, pool=pool, undo=StepAction.SWITCH)
    undo: list[tuple[StepParams, str]] = [(flip_back, target)]
    for u in patched:
        chain: list[StepParams] = [RestoreParams(from_unit=u.id)]
        if any(s.action is StepAction.REBOOT for s in u.steps):
            chain.append(REBOOT)
        chain.append(HEALTH)
        undo += [(params, u.target) for params in chain]
    rollback = tuple(
        step(f"{unit_id}/rollback", i, params, where_to, only_if=StepAction.SWITCH)
        for i, (params, where_to) in enumerate(undo)
    )
    return Unit(id=unit_id, target=target, steps=tuple(steps), rollback=rollback)


STRATEGY = Strategy("blue_green", plan_blue_green)
