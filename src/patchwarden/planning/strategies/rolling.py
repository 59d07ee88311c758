"""Rolling, online behind a load balancer: drain, wait, patch, health, re-enable.

Never more than ``max_unavailable`` hosts of a pool out at once, and never below the
pool's ``min_healthy``. Hosts outside any pool roll the same way without the drain steps.
"""

from __future__ import annotations

from collections import defaultdict

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.plan import Batch, Unit
from patchwarden.domain.steps import DrainParams, EnableParams, WaitDrainedParams
from patchwarden.planning.context import GroupContext, NoSpareCapacity, Strategy, batch_size
from patchwarden.planning.steps import host_unit

__all__ = ["STRATEGY", "plan_rolling"]


def plan_rolling(ctx: GroupContext) -> tuple[Batch, ...]:
    """Batches of at most ``max_unavailable`` hosts per pool, pools side by side."""
    by_pool: dict[str, list[AssetBase]] = defaultdict(list)
    for asset in ctx.assets:
        member = ctx.lb_of.get(asset.id)
        by_pool[f"{member.lb.id}/{member.pool.name}" if member else ""].append(asset)
    lanes: list[list[list[AssetBase]]] = []
    for key in sorted(by_pool):
        hosts = by_pool[key]
        if key:
            member = ctx.lb_of[hosts[0].id]
            pool_size = len(member.pool.all_members())
            size = batch_size(ctx.spec.max_unavailable, pool_size)
            if member.pool.min_healthy is not None:
                spare = pool_size - member.pool.min_healthy
                if spare < 1:
                    raise NoSpareCapacity(
                        f"pool {member.lb.id}/{member.pool.name}: min_healthy "
                        f"{member.pool.min_healthy} of {pool_size} leaves no member to take "
                        "out; lower min_healthy, add a member, or use blue_green"
                    )
                size = min(size, spare)
        else:
            size = batch_size(ctx.spec.max_unavailable, len(hosts))
        lanes.append(_split(hosts, size, ctx.spec.ramp))
    batches: list[Batch] = []
    for index in range(max((len(lane) for lane in lanes), default=0)):
        units: list[Unit] = []
        for lane in lanes:
            if index < len(lane):
                units.extend(_unit(ctx, host) for host in lane[index])
        batches.append(Batch(id=f"{ctx.wave_id}#{index + 1}", units=tuple(units)))
    return tuple(batches)


def _unit(ctx: GroupContext, host: AssetBase) -> Unit:
    member = ctx.lb_of.get(host.id)
    if member is None:
        return host_unit(ctx.wave_id, host.id, ctx.patches[host.id], ctx.reboot[host.id])
    lb, pool = member.lb.id, member.pool.name
    return host_unit(
        ctx.wave_id,
        host.id,
        ctx.patches[host.id],
        ctx.reboot[host.id],
        before=[DrainParams(lb=lb, pool=pool), WaitDrainedParams(lb=lb, pool=pool)],
        after=[EnableParams(lb=lb, pool=pool)],
    )


def _split(hosts: list[AssetBase], cap: int, ramp: tuple[int | str, ...]) -> list[list[AssetBase]]:
    """Batches of ``cap`` hosts, or growing as the ramp says (never above ``cap``)."""
    if not ramp:
        return [hosts[i : i + cap] for i in range(0, len(hosts), cap)]
    out: list[list[AssetBase]] = []
    start = 0
    step = 0
    while start < len(hosts):
        size = min(cap, batch_size(ramp[min(step, len(ramp) - 1)], len(hosts)))
        out.append(hosts[start : start + size])
        start += size
        step += 1
    return out


STRATEGY = Strategy("rolling", plan_rolling)
