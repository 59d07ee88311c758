"""Before a real run starts: can every VM the plan snapshots have a snapshot now?

The inventory said the VM runs on a hypervisor whose driver takes snapshots (checked when
the campaign was loaded); only the hypervisor knows its disks. A VM whose disks are not
all qcow2 (or that runs nowhere) is refused before anything runs, naming the VM and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from patchwarden.domain.plan import Plan
from patchwarden.domain.steps import StepAction
from patchwarden.drivers.protocols import SnapshotDriver
from patchwarden.errors import DriverError, Problem

__all__ = ["snapshot_targets", "unsupported_snapshots"]


def snapshot_targets(plan: Plan) -> list[str]:
    """The VMs ``plan`` snapshots, in plan order, each once."""
    seen: dict[str, None] = {}
    for unit in plan.units():
        for step in unit.steps:
            if step.action is StepAction.SNAPSHOT:
                seen.setdefault(step.target, None)
    return list(seen)


async def _reasons(driver: SnapshotDriver, vms: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for vm in vms:
        try:
            out[vm] = await driver.snapshot_support(vm)
        except DriverError as error:
            out[vm] = f"its hypervisor could not be asked: {error}"
    return out


def unsupported_snapshots(
    plan: Plan, driver: SnapshotDriver | None, sources: Mapping[str, tuple[str, int]]
) -> list[Problem]:
    """One problem per VM of ``plan`` whose hypervisor says it cannot be snapshotted.

    Asked on a thread of its own, so a caller inside an event loop may call it too. With
    no snapshot driver the plan is left to
    :func:`~patchwarden.service.real_checks.missing_drivers`.
    """
    vms = snapshot_targets(plan)
    if driver is None or not vms:
        return []
    with ThreadPoolExecutor(1) as pool:
        reasons = pool.submit(asyncio.run, _reasons(driver, vms)).result()
    problems = []
    for vm, why in reasons.items():
        if why is None:
            continue
        file, line = sources.get(vm, ("inventory", 0))
        problems.append(
            Problem(
                file,
                line,
                f"{vm}.hypervisor",
                f"rollback: snapshot cannot snapshot {vm}: {why}",
                "give the VM qcow2 disks, or roll its group back with `rollback: packages`; "
                "nothing has run",
            )
        )
    return problems
