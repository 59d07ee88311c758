"""Redundant storage paths: one controller / switch / HBA at a time.

Each part's path is taken offline (the system refuses if it is the last one of its
group), flashed, brought back, and the group's redundancy is verified restored before the
next part starts (and, when the system lists its attached ``hosts``, each of them reaches
every LUN through two usable paths again). Parts are strictly one after another across the
system.
"""

from __future__ import annotations

from patchwarden.domain.assets import StorageSystem
from patchwarden.domain.plan import Batch, StepAction, Unit
from patchwarden.domain.steps import (
    FirmwareParams,
    PathOfflineParams,
    PathOnlineParams,
    StepParams,
    VerifyRedundancyParams,
)
from patchwarden.planning.context import GroupContext, Strategy
from patchwarden.planning.steps import step

__all__ = ["STRATEGY", "plan_redundant_path"]

_ORDER = {"hba": 0, "san_switch": 1, "controller": 2, "raid_controller": 3}


def plan_redundant_path(ctx: GroupContext) -> tuple[Batch, ...]:
    """One batch per part that needs new firmware."""
    batches = []
    for system in (a for a in ctx.assets if isinstance(a, StorageSystem)):
        parts = sorted(
            (p for p in system.parts if p.id in ctx.firmware),
            key=lambda p: (_ORDER[p.type], p.redundancy_group, p.id),
        )
        for part in parts:
            unit_id = f"{ctx.wave_id}/{part.id}"
            offline = PathOfflineParams(system=system.id)
            online = PathOnlineParams(system=system.id)
            verify = VerifyRedundancyParams(
                system=system.id, group=part.redundancy_group, hosts=system.hosts
            )
            chain: list[StepParams] = [
                offline,
                FirmwareParams(version=ctx.firmware[part.id]),
                online,
                verify,
            ]
            steps = tuple(step(unit_id, i, params, part.id) for i, params in enumerate(chain))
            undo: list[tuple[StepParams, StepAction]] = [
                (offline, StepAction.FIRMWARE),
                (FirmwareParams(undo=StepAction.FIRMWARE), StepAction.FIRMWARE),
                (online, StepAction.PATH_OFFLINE),
                (verify, StepAction.PATH_OFFLINE),
            ]
            rollback = tuple(
                step(f"{unit_id}/rollback", i, params, part.id, only_if=only_if)
                for i, (params, only_if) in enumerate(undo)
            )
            unit = Unit(id=unit_id, target=part.id, steps=steps, rollback=rollback)
            batches.append(Batch(id=f"{unit_id}#1", units=(unit,)))
    return tuple(batches)


STRATEGY = Strategy("redundant_path", plan_redundant_path)
