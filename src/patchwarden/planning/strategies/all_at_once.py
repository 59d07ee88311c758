"""All at once: every host in one batch. For dev and disposable groups; shown for contrast."""

from __future__ import annotations

from patchwarden.domain.plan import Batch
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import host_unit

__all__ = ["STRATEGY", "plan_all_at_once"]


def plan_all_at_once(ctx: GroupContext) -> tuple[Batch, ...]:
    """One batch holding a unit per host."""
    units = tuple(
        host_unit(ctx.wave_id, a.id, ctx.patches[a.id], ctx.reboot[a.id]) for a in ctx.assets
    )
    return (Batch(id=f"{ctx.wave_id}#1", units=units),) if units else ()


STRATEGY = Strategy("all_at_once", plan_all_at_once)
