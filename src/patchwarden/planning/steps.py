"""Building blocks of units: the steps every strategy shares, with their expected durations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchwarden.domain.plan import Step, StepAction, Unit

__all__ = ["EXPECTED_SECONDS", "PatchSet", "host_unit", "step"]

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
    StepAction.WAIT: 900,
    StepAction.HANDOVER: 20,
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
}

PatchSet = tuple[tuple[str, str], ...]
"""``((package, target version), ...)`` in install order: kernel and firmware last."""


def step(unit_id: str, index: int, action: StepAction, target: str, **params: Any) -> Step:
    """A step with a stable id such as ``prod.web/web-01/03-patch``."""
    only_if = params.pop("only_if", None)
    retries = 2 if action in (StepAction.HEALTH, StepAction.WAIT_DRAINED) else 0
    # Waits and analyses take as long as they are told to; everything else as usual.
    expected = float(params.get("seconds", EXPECTED_SECONDS[action]))
    # The planner builds these from values it already holds typed: skip re-validation,
    # which would otherwise be most of the time spent planning a large estate.
    return Step.trusted(
        id=f"{unit_id}/{index:02d}-{action}",
        action=action,
        target=target,
        params=params,
        expected_s=expected,
        timeout_s=max(60.0, expected * 5) if "seconds" not in params else expected + 600.0,
        retries=retries,
        only_if=only_if,
    )


def host_unit(
    wave_id: str,
    target: str,
    packages: PatchSet,
    reboot: bool,
    before: Sequence[tuple[StepAction, dict[str, Any]]] = (),
    after: Sequence[tuple[StepAction, dict[str, Any]]] = (),
) -> Unit:
    """Patch one host: ``before`` steps, patch, reboot if needed, health, ``after`` steps.

    Rollback undoes in reverse: restore the recorded versions (and reboot if the patch
    did), check health, then undo each ``before`` step that had started.
    """
    unit_id = f"{wave_id}/{target}"
    chain: list[tuple[StepAction, dict[str, Any]]] = [*before]
    chain.append((StepAction.PATCH, {"packages": [list(p) for p in packages]}))
    if reboot:
        chain.append((StepAction.REBOOT, {}))
    chain.append((StepAction.HEALTH, {}))
    chain.extend(after)
    steps = tuple(
        step(unit_id, i, action, params.pop("target", target), **params)
        for i, (action, params) in enumerate((a, dict(p)) for a, p in chain)
    )
    undo: list[tuple[StepAction, dict[str, Any]]] = [
        (StepAction.RESTORE, {"only_if": StepAction.PATCH}),
    ]
    if reboot:
        undo.append((StepAction.REBOOT, {"only_if": StepAction.PATCH}))
    undo.append((StepAction.HEALTH, {"only_if": StepAction.PATCH}))
    for action, params in reversed(before):
        opposite = _UNDO.get(action)
        if opposite is not None:
            undo.append((opposite, {**params, "only_if": action}))
    rollback = tuple(
        step(f"{unit_id}/rollback", i, action, params.pop("target", target), **params)
        for i, (action, params) in enumerate((a, dict(p)) for a, p in undo)
    )
    return Unit(id=unit_id, target=target, steps=steps, rollback=rollback)


_UNDO = {
    StepAction.DRAIN: StepAction.ENABLE,
    StepAction.MAINTENANCE_ON: StepAction.MAINTENANCE_OFF,
}
