"""Baselines, compliance and patch-level drift as plain data: ``baseline show|check|drift``.

The command line prints these (``--format json``) and the API answers them, so both say
the same thing about the same store. Inputs are chosen by the one rule of
``service.inputs``; the baselines are the file given, else the shipped ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from patchwarden.service.assessments import load_run, run_outcome
from patchwarden.service.baselines import (
    check_baselines,
    estate_drift,
    snapshot_baselines,
    version_sheet,
)
from patchwarden.service.feeds import stored_advisories
from patchwarden.service.inputs import estate_inputs
from patchwarden.service.policy import read_baselines
from patchwarden.service.sources import demo_advisories
from patchwarden.store import Store

__all__ = [
    "SHEET_FIELDS",
    "baselines_shown",
    "compliance",
    "drift_rows",
    "sheet_csv",
]

SHEET_FIELDS = (
    "asset_id",
    "env",
    "roles",
    "ecosystem",
    "package",
    "version",
    "target",
    "status",
    "snapshot_id",
)
"""The columns of the version-tracking sheet, in order."""


def baselines_shown(
    store: Store | None,
    now: datetime,
    *,
    baselines: Path | None = None,
    os_family: str | None = None,
) -> list[dict[str, Any]]:
    """Each baseline's rules and its snapshot now: the approved and rejected patches.

    ``store`` None: the demo advisories (``--demo``); else the imported catalog.
    """
    sets = read_baselines(baselines)
    advisories = demo_advisories() if store is None else stored_advisories(store)
    out: list[dict[str, Any]] = []
    for baseline, snap in snapshot_baselines(sets, advisories, now, os_family):
        out.append(
            {
                "name": baseline.name,
                "os_family": baseline.os_family,
                "snapshot_id": snap.id,
                "rejected_action": baseline.rejected_action,
                "rules": [
                    r.model_dump(mode="json", exclude_defaults=True)
                    for r in baseline.approval_rules
                ],
                "approved_list": list(baseline.approved),
                "rejected_list": list(baseline.rejected),
                "approved": [asdict(p) | {"released": str(p.released)} for p in snap.approved],
                "rejected": [asdict(p) | {"released": str(p.released)} for p in snap.rejected],
            }
        )
    return out


def compliance(
    store: Store,
    now: datetime,
    *,
    inventory_files: Sequence[Path] = (),
    baselines: Path | None = None,
    demo: bool = False,
    environments: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every asset (of ``environments``; empty: all) checked against its baseline.

    Returns the assets, each with its patches and their states, and the snapshots they
    were judged against.

    Raises:
        UsageError: no inventory of the user's own.
        ValidationFailed: bad inventory or baselines files.
    """
    sets = read_baselines(baselines)
    inputs = estate_inputs(store, inventory_files, demo=demo, own_estate=True)
    failed = {} if demo else run_outcome(load_run(store)).failed
    result = check_baselines(
        inputs.inventory, {a.id: a for a in inputs.advisories}, sets, now, failed=failed
    )
    assets = [
        {
            "asset_id": r.asset_id,
            "env": r.env,
            "baseline": r.baseline,
            "snapshot_id": r.snapshot_id,
            "compliant": r.compliant,
            "patches": [asdict(p) | {"state": p.state.value} for p in r.patches],
        }
        for r in result.results.values()
        if not environments or r.env in environments
    ]
    used = {a["snapshot_id"] for a in assets}
    snapshots = [
        {"baseline": s.baseline, "snapshot_id": s.id, "approved": len(s.approved)}
        for _, s in sorted(result.snapshots.items())
        if s.id in used
    ]
    return assets, snapshots


def drift_rows(
    store: Store,
    *,
    inventory_files: Sequence[Path] = (),
    demo: bool = False,
    environments: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], int, int]:
    """Who deviates from the patch level of their group: rows, groups aligned, groups.

    With ``environments``, only the deviations of assets there are listed.
    """
    inputs = estate_inputs(store, inventory_files, demo=demo, own_estate=True)
    env_of = {a.id: a.env for a in inputs.inventory.assets}
    groups = estate_drift(inputs.inventory)
    rows = [
        {"group": f"{g.kind} {g.name}", **asdict(d)}
        for g in groups
        for d in g.deviations
        if not environments or env_of.get(d.asset_id) in environments
    ]
    return rows, sum(1 for g in groups if g.aligned), len(groups)


def sheet_csv(
    store: Store,
    now: datetime,
    *,
    inventory_files: Sequence[Path] = (),
    baselines: Path | None = None,
    demo: bool = False,
    environments: Sequence[str] = (),
) -> tuple[str, int]:
    """The version-tracking sheet (asset × package × version) as CSV text, and its rows."""
    sets = read_baselines(baselines)
    inputs = estate_inputs(store, inventory_files, demo=demo, own_estate=True)
    sheet = [
        row
        for row in version_sheet(inputs.inventory, sets, inputs.advisories, now)
        if not environments or row.env in environments
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SHEET_FIELDS)
    for row in sheet:
        writer.writerow([getattr(row, f) for f in SHEET_FIELDS])
    return out.getvalue(), len(sheet)
