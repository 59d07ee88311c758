"""Canary: patch a few first, give them a small share of traffic, compare, then the rest.

The canaries are patched like rolling hosts but come back at a low weight. An analysis
unit then lets traffic flow and compares canaries with the unpatched baseline (Mann-Whitney
U plus effect size); if it does not pass, its rollback restores every canary, and the
rest of the pool is never touched (its batches require success).
"""

from __future__ import annotations

from dataclasses import replace

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import (
    AnalyzeParams,
    DrainParams,
    EnableParams,
    RestoreParams,
    SetWeightParams,
    StepParams,
    WaitDrainedParams,
)
from patchwarden.planning.context import GroupContext, Strategy, batch_size
from patchwarden.planning.steps import HEALTH, REBOOT, step
from patchwarden.planning.strategies.all_at_once import plan_all_at_once
from patchwarden.planning.strategies.rolling import plan_rolling

__all__ = ["STRATEGY", "plan_canary"]


def plan_canary(ctx: GroupContext) -> tuple[Batch, ...]:
    """Canaries of every pool, one analysis per pool, then the rest by ``then``.

    Each pool with at least two selected hosts gets its own canaries (``canary`` of the
    pool, never all of it) compared with its own unpatched members.
    """
    by_pool: dict[tuple[str, str], list[AssetBase]] = {}
    for asset in ctx.assets:
        member = ctx.lb_of.get(asset.id)
        if member is not None:
            by_pool.setdefault((member.lb.id, member.pool.name), []).append(asset)
    canary_units: list[Unit] = []
    analyses: list[Unit] = []
    chosen: set[str] = set()
    for (lb_id, pool_name), hosts in sorted(by_pool.items()):
        member = ctx.lb_of[hosts[0].id]
        size = len(member.pool.all_members())
        # Never more canaries than the pool can spare above its min healthy.
        spare = size - (member.pool.min_healthy or 0)
        count = min(len(hosts) - 1, batch_size(ctx.spec.canary, size), spare)
        if count < 1:
            continue
        before = (
            DrainParams(lb=lb_id, pool=pool_name),
            WaitDrainedParams(lb=lb_id, pool=pool_name),
        )
        after = (
            SetWeightParams(lb=lb_id, pool=pool_name, weight=ctx.spec.canary_weight),
            EnableParams(lb=lb_id, pool=pool_name),
        )
        units = [ctx.unit_for(h.id, before=before, after=after) for h in hosts[:count]]
        ids = {u.target for u in units}
        baseline = [m for m in member.pool.all_members() if m not in ids]
        canary_units.extend(units)
        analyses.append(_analysis_unit(ctx, tuple(units), (lb_id, pool_name), baseline))
        chosen |= ids
    if not canary_units:
        return plan_rolling(ctx)
    rest = replace(ctx, assets=tuple(a for a in ctx.assets if a.id not in chosen))
    then = plan_rolling(rest) if ctx.spec.then == "rolling" else plan_all_at_once(rest)
    batches = [
        Batch(id=f"{ctx.wave_id}#canary", units=tuple(canary_units)),
        Batch(id=f"{ctx.wave_id}#analysis", units=tuple(analyses), requires_success=True),
    ]
    batches.extend(b.model_copy(update={"requires_success": True}) for b in then)
    return tuple(batches)


def _analysis_unit(
    ctx: GroupContext, canaries: tuple[Unit, ...], where: tuple[str, str], baseline: list[str]
) -> Unit:
    lb, pool = where
    unit_id = f"{ctx.wave_id}/{lb}.{pool}-analysis"
    target = f"{lb}/{pool}"
    analyze = AnalyzeParams(
        lb=lb,
        pool=pool,
        canaries=tuple(u.target for u in canaries),
        baseline=tuple(baseline),
        seconds=ctx.spec.analysis_s,
    )
    full_weight = SetWeightParams(lb=lb, pool=pool, weight=100)
    steps = [step(unit_id, 0, analyze, target)]
    steps += [step(unit_id, i + 1, full_weight, u.target) for i, u in enumerate(canaries)]
    undo: list[tuple[StepParams, str]] = []
    for u in canaries:
        reboot = any(s.action is StepAction.REBOOT for s in u.steps)
        chain: list[StepParams] = [
            DrainParams(lb=lb, pool=pool),
            WaitDrainedParams(lb=lb, pool=pool),
            RestoreParams(from_unit=u.id),
        ]
        if reboot:
            chain.append(REBOOT)
        chain += [HEALTH, full_weight, EnableParams(lb=lb, pool=pool)]
        undo += [(params, u.target) for params in chain]
    rollback = tuple(
        step(f"{unit_id}/rollback", i, params, target_host, only_if=StepAction.ANALYZE)
        for i, (params, target_host) in enumerate(undo)
    )
    return Unit(id=unit_id, target=target, steps=tuple(steps), rollback=rollback)


STRATEGY = Strategy("canary", plan_canary)
