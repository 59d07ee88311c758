"""Building blocks of units: the steps every strategy shares, with their expected durations."""

from __future__ import annotations

from collections.abc import Sequence

from patchwarden.domain.plan import Batch, Step, Unit
from patchwarden.domain.steps import (
    AnalyzeParams,
    BakeParams,
    DrainParams,
    EnableParams,
    HealthParams,
    HookParams,
    LeaveParams,
    MaintenanceOffParams,
    MaintenanceOnParams,
    PatchParams,
    RebootParams,
    RejoinParams,
    RestoreParams,
    StepAction,
    StepParams,
    WaitParams,
)

__all__ = [
    "EXPECTED_SECONDS",
    "HEALTH",
    "REBOOT",
    "Chain",
    "PatchSet",
    "host_unit",
    "step",
    "with_restarts",
]

# Rough expected durations (seconds) used for timelines and window fitting.
EXPECTED_SECONDS: dict[StepAction, float] = {
    StepAction.DRAIN: 5,
    StepAction.WAIT_DRAINED: 30,
    StepAction.ENABLE: 5,
    StepAction.MAINTENANCE_ON: 5,
    StepAction.MAINTENANCE_OFF: 5,
    StepAction.MIGRATE: 60,
    StepAction.PATCH: 120,
    StepAction.RESTORE: 120,
    StepAction.REBOOT: 180,
    StepAction.HEALTH: 15,
    StepAction.VERIFY: 10,
    StepAction.SET_WEIGHT: 2,
    StepAction.ANALYZE: 300,
    StepAction.SWITCH: 2,
    StepAction.BAKE: 900,
    StepAction.HOOK: 10,
    StepAction.WAIT: 900,
    StepAction.HANDOVER: 20,
    StepAction.LEAVE: 10,
    StepAction.REJOIN: 30,
    StepAction.UPLOAD: 30,
    StepAction.DISTRIBUTE: 300,
    StepAction.FIRMWARE: 300,
    StepAction.FAILOVER: 10,
    StepAction.PATH_OFFLINE: 15,
    StepAction.PATH_ONLINE: 15,
    StepAction.VERIFY_REDUNDANCY: 10,
    StepAction.BUILD_IMAGE: 600,
    StepAction.TEST_IMAGE: 120,
    StepAction.REPLACE: 240,
    StepAction.SNAPSHOT: 30,
    StepAction.SNAPSHOT_REVERT: 60,
    StepAction.SNAPSHOT_DELETE: 10,
}

PatchSet = tuple[tuple[str, str], ...]
"""``((package, target version), ...)`` in install order: kernel and firmware last."""


Chain = Sequence[StepParams | tuple[str, StepParams]]
"""Steps before or after a host's patch: parameters, or ``(other target, parameters)``."""

HEALTH = HealthParams()
REBOOT = RebootParams()
# Parameters are frozen values, so one instance serves every step that needs no more.


def step(
    unit_id: str,
    index: int,
    params: StepParams,
    target: str,
    only_if: StepAction | None = None,
) -> Step:
    """A step with a stable id such as ``prod.web/web-01/03-patch``."""
    action = params.action
    retries = 2 if action in (StepAction.HEALTH, StepAction.WAIT_DRAINED) else 0
    # Waits and analyses take as long as they are told to; everything else as usual.
    told = params.seconds if isinstance(params, WaitParams | AnalyzeParams | BakeParams) else None
    if isinstance(params, HookParams):
        told = params.timeout_s  # a hook is stopped by its own timeout, never the engine's
    expected = float(EXPECTED_SECONDS[action] if told is None else told)
    # The planner builds these from values it already holds typed: skip re-validation,
    # which would otherwise be most of the time spent planning a large estate.
    return Step.trusted(
        id=f"{unit_id}/{index:02d}-{action}",
        target=target,
        params=params,
        timeout_s=max(60.0, expected * 5) if told is None else expected + 600.0,
        expected_s=expected,
        retries=retries,
        only_if=only_if,
    )


def host_unit(
    wave_id: str,
    target: str,
    packages: PatchSet,
    reboot: bool,
    before: Chain = (),
    after: Chain = (),
) -> Unit:
    """Patch one host: ``before`` steps, patch, reboot if needed, health, ``after`` steps.

    Rollback undoes in reverse: restore the recorded versions (and reboot if the patch
    did), check health, then undo each ``before`` step that had started.
    """
    unit_id = f"{wave_id}/{target}"
    chain: list[StepParams | tuple[str, StepParams]] = [*before, PatchParams(packages=packages)]
    if reboot:
        chain.append(REBOOT)
    chain.append(HEALTH)
    chain.extend(after)
    placed = [_on(item, target) for item in chain]
    steps = tuple(step(unit_id, i, params, where) for i, (where, params) in enumerate(placed))
    undo: list[tuple[StepParams, str, StepAction]] = [(_RESTORE, target, StepAction.PATCH)]
    if reboot:
        undo.append((REBOOT, target, StepAction.PATCH))
    undo.append((HEALTH, target, StepAction.PATCH))
    for item in reversed(before):
        where, params = _on(item, target)
        opposite = _opposite(params)
        if opposite is not None:
            undo.append((opposite, where, params.action))
    rollback = tuple(
        step(f"{unit_id}/rollback", i, params, where, only_if=only_if)
        for i, (params, where, only_if) in enumerate(undo)
    )
    return Unit(id=unit_id, target=target, steps=steps, rollback=rollback)


_RESTORE = RestoreParams()


def _on(item: StepParams | tuple[str, StepParams], target: str) -> tuple[str, StepParams]:
    return item if isinstance(item, tuple) else (target, item)


def _opposite(params: StepParams) -> StepParams | None:
    """The step that undoes a ``before`` step: enable, end maintenance, wait for a rejoin."""
    if isinstance(params, DrainParams):
        return EnableParams(lb=params.lb, pool=params.pool)
    if isinstance(params, MaintenanceOnParams):
        return MaintenanceOffParams()
    if isinstance(params, LeaveParams):
        return RejoinParams(member=params.member)
    return None


def with_restarts(batches: Sequence[Batch]) -> tuple[Batch, ...]:
    """The batches with every ``patch`` step set to restart the services it leaves outdated.

    Step ids, order and rollbacks stay as they are: only what the patch step does after
    installing changes (see :class:`~patchwarden.domain.steps.PatchParams`).
    """

    def restarting(step: Step) -> Step:
        if not isinstance(step.params, PatchParams):
            return step
        params = step.params.model_copy(update={"restart": "restart"})
        return step.model_copy(update={"params": params})

    return tuple(
        batch.model_copy(
            update={
                "units": tuple(
                    unit.model_copy(update={"steps": tuple(restarting(s) for s in unit.steps)})
                    for unit in batch.units
                )
            }
        )
        for batch in batches
    )
