"""Checking an estate against its patch baselines: snapshot them, then check every asset.

A baseline is frozen into a snapshot (the patches approved and rejected at that moment);
compliance is judged against the snapshot, so a report before and after a campaign compares
like with like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from patchwarden.assess.baseline import (
    BaselinePatch,
    BaselineSet,
    BaselineSnapshot,
    PatchBaseline,
    baseline_ecosystem,
    candidate_patches,
    take_snapshot,
)
from patchwarden.assess.compliance import AssetCompliance, PatchState, check_compliance
from patchwarden.assess.drift import DriftGroup, VersionRow, drift, version_rows
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.inventory import Inventory

__all__ = [
    "BaselineCheck",
    "DriftGroup",
    "PatchState",
    "VersionRow",
    "check_baselines",
    "estate_drift",
    "snapshot_baselines",
    "version_sheet",
]


@dataclass(frozen=True)
class BaselineCheck:
    """Baseline snapshots and every asset's compliance with them."""

    snapshots: Mapping[str, BaselineSnapshot]
    results: Mapping[str, AssetCompliance]


def check_baselines(
    inventory: Inventory,
    advisories: Mapping[str, Advisory],
    baselines: BaselineSet,
    at: datetime,
    *,
    snapshots: Mapping[str, BaselineSnapshot] | None = None,
    failed: Mapping[str, set[str]] | None = None,
    pending_reboot: Mapping[str, set[str]] | None = None,
) -> BaselineCheck:
    """Snapshot the baselines at ``at`` (unless given) and check every asset against them."""
    if snapshots is None:
        snapshots = {
            baseline_ecosystem(b.os_family): take_snapshot(b, advisories.values(), at)
            for b in baselines.baselines
        }
    candidates: dict[str, list[BaselinePatch]] = {
        baseline_ecosystem(b.os_family): candidate_patches(b.os_family, advisories.values())
        for b in baselines.baselines
    }
    results = check_compliance(
        inventory,
        snapshots,
        advisories,
        candidates=candidates,
        failed=failed,
        pending_reboot=pending_reboot,
    )
    return BaselineCheck(snapshots, {r.asset_id: r for r in results})


def snapshot_baselines(
    baselines: BaselineSet,
    advisories: Iterable[Advisory],
    at: datetime,
    os_family: str | None = None,
) -> list[tuple[PatchBaseline, BaselineSnapshot]]:
    """Each baseline with its snapshot at ``at``; only ``os_family``'s when one is given.

    An OS family matches by ecosystem, so ``ubuntu`` finds a baseline written for ``Ubuntu``.
    """
    catalog = list(advisories)
    wanted = baseline_ecosystem(os_family) if os_family else None
    return [
        (b, take_snapshot(b, catalog, at))
        for b in baselines.baselines
        if wanted is None or baseline_ecosystem(b.os_family) == wanted
    ]


def estate_drift(inventory: Inventory) -> list[DriftGroup]:
    """Who deviates from the patch level of their role, cluster, pool or environment.

    See :func:`~patchwarden.assess.drift.drift` for how each group's reference is chosen.
    """
    return drift(inventory)


def version_sheet(
    inventory: Inventory, baselines: BaselineSet, advisories: Iterable[Advisory], at: datetime
) -> list[VersionRow]:
    """The version-tracking sheet: asset × package × version against each baseline's target."""
    catalog = list(advisories)
    snapshots = {
        baseline_ecosystem(b.os_family): take_snapshot(b, catalog, at) for b in baselines.baselines
    }
    return version_rows(inventory, snapshots)
