"""One asset as a person drills into it: who patches it, what it runs, what is open, what ran.

The dashboard's asset page reads it; everything comes from the store (the stored
inventory, the newest scans, the latest assessment, the runs and their plans).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patchwarden.service.findings import FindingFilter, FindingRow, find
from patchwarden.service.inventories import AssetView, list_assets
from patchwarden.service.scan import PRECEDENCE, HostScan, age_text
from patchwarden.store import RunRecord, Store

__all__ = ["AssetDetail", "asset_detail", "plan_targets"]

_FINDINGS_SHOWN = 500


@dataclass(frozen=True)
class AssetDetail:
    """An asset, its package count (and where it comes from), findings and runs."""

    asset: AssetView
    packages: int
    packages_from: str
    """``scan (ssh, 3 h ago)``, ``inventory`` (declared), or ``nothing`` known."""
    findings: tuple[FindingRow, ...]
    findings_total: int
    runs: tuple[RunRecord, ...]


def plan_targets(plan_data: dict[str, Any]) -> set[str]:
    """Every unit target of a stored plan's JSON.

    Example:
        >>> plan_targets({"waves": [{"batches": [{"units": [{"target": "web-01"}]}]}]})
        {'web-01'}
    """
    return {
        str(unit.get("target", ""))
        for wave in plan_data.get("waves", [])
        for batch in wave.get("batches", [])
        for unit in batch.get("units", [])
    }


def _newest_scan(store: Store, asset_id: str) -> HostScan | None:
    found: dict[str, HostScan] = {}
    for record in store.iter_latest_scans():
        if record.asset_id == asset_id:
            found[record.source] = HostScan.from_record(record)
    return next((found[s] for s in PRECEDENCE if s in found), None)


def asset_detail(
    store: Store, asset_id: str, now: datetime, environments: Sequence[str] = ()
) -> AssetDetail | None:
    """The asset (within ``environments``, empty: all) in detail; ``None`` if not there."""
    view = next(
        (a for a in list_assets(store, environments=environments) if a.id == asset_id), None
    )
    if view is None:
        return None
    scan = _newest_scan(store, asset_id)
    if scan is not None:
        packages = len(scan.packages)
        when = age_text(scan.age(now))
        source = f"scan ({scan.source}, {when} ago)"
    elif view.data.get("packages"):
        packages, source = len(view.data["packages"]), "inventory"
    else:
        packages, source = 0, "nothing"
    page = find(
        store, FindingFilter(asset_id=asset_id), environments=environments,
        per_page=_FINDINGS_SHOWN,
    )  # fmt: skip
    touches: dict[str, bool] = {}  # plan hash -> whether it touches the asset (read once)
    runs = []
    for run in store.runs():
        if run.plan_hash not in touches:
            plan = store.get_plan(run.plan_hash)
            touches[run.plan_hash] = plan is not None and asset_id in plan_targets(plan.data)
        if touches[run.plan_hash]:
            runs.append(run)
    return AssetDetail(view, packages, source, page.items, page.total, tuple(reversed(runs)))
