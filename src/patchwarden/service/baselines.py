"""Checking an estate against its patch baselines: snapshot them, then check every asset.

A baseline is frozen into a snapshot (the patches approved and rejected at that moment);
compliance is judged against the snapshot, so a report before and after a campaign compares
like with like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from patchwarden.assess.baseline import (
    BaselinePatch,
    BaselineSet,
    BaselineSnapshot,
    baseline_ecosystem,
    candidate_patches,
    take_snapshot,
)
from patchwarden.assess.compliance import AssetCompliance, check_compliance
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.inventory import Inventory

__all__ = ["BaselineCheck", "check_baselines"]


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
