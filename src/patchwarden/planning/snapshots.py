"""Snapshots as a way back: a group's units snapshot each VM first and revert to it.

With ``rollback: snapshot`` a VM's unit becomes::

    snapshot  ->  (the unit's steps: patch, reboot, health ...)  ->  wait soak  ->  health
              ->  snapshot_delete

and its rollback, instead of putting package versions back::

    snapshot_revert  ->  health  ->  snapshot_delete      (only if the snapshot step started)

followed by the undo of the unit's own ``before`` steps, as before. Each step is journaled
like any other, so a run killed at any point and resumed neither takes a second snapshot
nor leaves one behind (see :class:`~patchwarden.domain.steps.SnapshotParams`).

Which assets may have a snapshot is decided from the inventory alone
(:func:`snapshot_refusal`); whether a running VM's disks allow it is asked of its
hypervisor before a real run starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence, Set

from patchwarden.domain.assets import AssetBase, Hypervisor, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Step, Unit
from patchwarden.domain.steps import (
    SnapshotDeleteParams,
    SnapshotParams,
    SnapshotRevertParams,
    StepAction,
    StepParams,
    WaitParams,
)
from patchwarden.planning.steps import HEALTH, step

__all__ = ["SNAPSHOT_HYPERVISORS", "snapshot_name", "snapshot_refusal", "with_snapshots"]

SNAPSHOT_HYPERVISORS = frozenset({"libvirt", "sim"})
"""Hypervisor drivers that take VM snapshots (``sim``: the simulated estate's)."""


def snapshot_name(campaign: str, unit_id: str) -> str:
    """The snapshot a unit takes: campaign and unit, in characters libvirt takes anywhere.

    >>> snapshot_name("2026-11 security", "prod.vms/vm-01")
    'patchwarden-2026-11-security-prod.vms-vm-01'
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"patchwarden-{campaign}-{unit_id}")


def snapshot_refusal(asset: AssetBase, inventory: Inventory) -> str | None:
    """Why ``asset`` cannot roll back by snapshot, from the inventory; ``None`` if it can.

    >>> inv = Inventory.model_validate({"assets": [
    ...     {"id": "hv-1", "kind": "hypervisor", "env": "dev", "driver": "libvirt",
    ...      "driver_config": {"uri": "qemu+tcp://10.0.0.1/system"},
    ...      "capacity": {"vcpus": 4, "memory_gb": 8}},
    ...     {"id": "vm-1", "kind": "vm", "env": "dev", "hypervisor": "hv-1"},
    ...     {"id": "vm-2", "kind": "vm", "env": "dev"}]})
    >>> snapshot_refusal(inv.get("vm-1"), inv) is None
    True
    >>> snapshot_refusal(inv.get("vm-2"), inv)
    'vm-2 runs on no hypervisor of the inventory (a cloud instance?)'
    >>> snapshot_refusal(inv.get("hv-1"), inv)
    'hv-1 is a hypervisor, not a VM'
    """
    if not isinstance(asset, Vm):
        kind = str(getattr(asset, "kind", "asset")).replace("_", " ")
        return f"{asset.id} is a {kind}, not a VM"
    if not asset.hypervisor:
        return f"{asset.id} runs on no hypervisor of the inventory (a cloud instance?)"
    host = inventory.by_id.get(asset.hypervisor)
    if not isinstance(host, Hypervisor):
        return f"{asset.id}'s hypervisor {asset.hypervisor!r} is not in the inventory"
    if host.driver not in SNAPSHOT_HYPERVISORS:
        return (
            f"{asset.id} runs on {host.id}, whose driver {host.driver!r} takes no snapshots "
            f"(one of {', '.join(sorted(SNAPSHOT_HYPERVISORS))} does)"
        )
    return None


def with_snapshots(
    batches: Sequence[Batch], vms: Set[str], campaign: str, soak_s: float
) -> tuple[Batch, ...]:
    """The batches with each patch unit of a VM in ``vms`` wrapped in a snapshot.

    Units of other targets, and units without a ``patch`` step, stay as they are.
    """
    return tuple(
        batch.model_copy(
            update={"units": tuple(_wrap(u, vms, campaign, soak_s) for u in batch.units)}
        )
        for batch in batches
    )


def _wrap(unit: Unit, vms: Set[str], campaign: str, soak_s: float) -> Unit:
    if unit.target not in vms or not any(s.action is StepAction.PATCH for s in unit.steps):
        return unit
    name = snapshot_name(campaign, unit.id)
    forward: list[tuple[str, StepParams]] = [(unit.target, SnapshotParams(name=name))]
    forward += [(s.target, s.params) for s in unit.steps]
    if soak_s > 0:
        forward += [(unit.target, WaitParams(seconds=soak_s)), (unit.target, HEALTH)]
    forward.append((unit.target, SnapshotDeleteParams(name=name)))
    back: list[tuple[str, StepParams, StepAction | None]] = [
        (unit.target, SnapshotRevertParams(name=name), StepAction.SNAPSHOT),
        (unit.target, HEALTH, StepAction.SNAPSHOT),
        (unit.target, SnapshotDeleteParams(name=name), StepAction.SNAPSHOT),
    ]
    # The package undo is the revert's now; the undo of the unit's own ``before`` steps
    # (maintenance, a drain) still follows.
    back += [(s.target, s.params, s.only_if) for s in unit.rollback if _keeps(s)]
    steps = tuple(step(unit.id, i, params, where) for i, (where, params) in enumerate(forward))
    rollback = tuple(
        step(f"{unit.id}/rollback", i, params, where, only_if=only_if)
        for i, (where, params, only_if) in enumerate(back)
    )
    return unit.model_copy(update={"steps": steps, "rollback": rollback})


def _keeps(rollback_step: Step) -> bool:
    """A rollback step not undoing the patch itself (restore, reboot, health after it)."""
    return rollback_step.only_if is not StepAction.PATCH
