"""``patchwarden baseline show|check|drift``: patch baselines, compliance and patch levels."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from patchwarden.cli.rows import check_format, print_rows
from patchwarden.service.assessments import load_run, run_outcome
from patchwarden.service.baselines import (
    PatchState,
    check_baselines,
    estate_drift,
    snapshot_baselines,
    version_sheet,
)
from patchwarden.service.feeds import stored_advisories
from patchwarden.service.inputs import estate_inputs
from patchwarden.service.policy import read_baselines
from patchwarden.service.sources import demo_advisories
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(help="Patch baselines: approved patches, compliance, same patch level.")

_FILE = typer.Option(None, "--baselines", help="Baselines YAML (default: the shipped ones).")
_INVENTORY = typer.Option([], "--inventory", "-i", help="Inventory YAML (default: stored).")
_DEMO = typer.Option(False, "--demo", help="Use the built-in demo estate and advisories.")
_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB).")
_FORMAT = typer.Option("table", "--format", help="table or json.")


@app.command("show")
def show(
    baselines: Path | None = _FILE,
    os_family: str | None = typer.Option(None, "--os", help="Only this OS family."),
    demo: bool = _DEMO,
    fmt: str = _FORMAT,
    db: str | None = _DB,
) -> None:
    """Show each baseline's rules and its snapshot: the approved and rejected patches now.

    Example: patchwarden baseline show --demo --os debian
    """
    check_format(fmt)
    sets = read_baselines(baselines)
    now = datetime.now(UTC)
    if demo:
        advisories = demo_advisories()
    else:
        with open_store(resolve_url(db, os.environ)) as store:
            advisories = stored_advisories(store)
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
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    for item in out:
        typer.echo(
            f"{item['name']} ({item['os_family']}): snapshot {item['snapshot_id']}, "
            f"{len(item['approved'])} approved, {len(item['rejected'])} rejected, "
            f"rejected patches: {item['rejected_action']}"
        )
        for i, rule in enumerate(item["rules"], 1):
            typer.echo(f"  rule {i}: {json.dumps(rule, default=str)}")
        columns = ("advisory_id", "package", "fixed", "classification", "severity", "approved_by")
        if item["approved"] or item["rejected"]:
            print_rows(item["approved"] + item["rejected"], columns)


@app.command("check")
def check(
    inventory: list[Path] = _INVENTORY,
    baselines: Path | None = _FILE,
    demo: bool = _DEMO,
    fmt: str = _FORMAT,
    show_all: bool = typer.Option(False, "--all", help="List not-applicable patches too."),
    db: str | None = _DB,
) -> None:
    """Check every asset against its baseline; exit 1 if any asset is non-compliant.

    States per asset and patch: installed, installed_other, installed_pending_reboot,
    installed_rejected, missing, failed, not_applicable, provider_responsibility.

    Example: patchwarden baseline check --demo --format json
    """
    check_format(fmt)
    sets = read_baselines(baselines)
    with open_store(resolve_url(db, os.environ)) as store:
        inputs = estate_inputs(store, inventory, demo=demo, own_estate=True)
        estate, advisories = inputs.inventory, inputs.advisories
        failed = {} if demo else run_outcome(load_run(store)).failed
    result = check_baselines(
        estate, {a.id: a for a in advisories}, sets, datetime.now(UTC), failed=failed
    )
    assets = list(result.results.values())
    if fmt == "json":
        body = [
            {
                "asset_id": r.asset_id,
                "env": r.env,
                "baseline": r.baseline,
                "snapshot_id": r.snapshot_id,
                "compliant": r.compliant,
                "patches": [asdict(p) | {"state": p.state.value} for p in r.patches],
            }
            for r in assets
        ]
        typer.echo(json.dumps(body, indent=2))
    else:
        rows = []
        for r in assets:
            counts = r.counts()
            rows.append(
                {
                    "asset": r.asset_id,
                    "env": r.env,
                    "baseline": r.baseline or "-",
                    "compliant": "yes" if r.compliant else "NO",
                    "states": ", ".join(
                        f"{counts[s]} {s.value}"
                        for s in PatchState
                        if counts[s] and (show_all or s is not PatchState.NOT_APPLICABLE)
                    ),
                }
            )
        print_rows(rows, ("asset", "env", "baseline", "compliant", "states"))
        for _, snap in sorted(result.snapshots.items()):
            if any(r.snapshot_id == snap.id for r in assets):
                typer.echo(f"{snap.baseline}: snapshot {snap.id} ({len(snap.approved)} approved)")
    bad = sum(1 for r in assets if not r.compliant)
    typer.echo(f"{len(assets) - bad} of {len(assets)} assets compliant", err=fmt == "json")
    if bad:
        raise typer.Exit(1)


@app.command("drift")
def drift_command(
    inventory: list[Path] = _INVENTORY,
    baselines: Path | None = _FILE,
    demo: bool = _DEMO,
    csv_out: Path | None = typer.Option(
        None, "--csv", help="Write the version-tracking sheet (asset × package × version)."
    ),
    fmt: str = _FORMAT,
    db: str | None = _DB,
) -> None:
    """Same patch level: who deviates from their role, cluster, pool or environment.

    Example: patchwarden baseline drift --demo --csv versions.csv
    """
    check_format(fmt)
    sets = read_baselines(baselines)
    with open_store(resolve_url(db, os.environ)) as store:
        inputs = estate_inputs(store, inventory, demo=demo, own_estate=True)
        estate, advisories = inputs.inventory, inputs.advisories
    groups = estate_drift(estate)
    rows = [{"group": f"{g.kind} {g.name}", **asdict(d)} for g in groups for d in g.deviations]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_rows(rows, ("group", "asset_id", "package", "version", "reference", "how"))
        aligned = sum(1 for g in groups if g.aligned)
        typer.echo(f"{aligned} of {len(groups)} groups on the same patch level")
    if csv_out is not None:
        sheet = version_sheet(estate, sets, advisories, datetime.now(UTC))
        out = io.StringIO()
        writer = csv.writer(out)
        fields = (
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
        writer.writerow(fields)
        for row in sheet:
            writer.writerow([getattr(row, f) for f in fields])
        csv_out.write_bytes(out.getvalue().encode("utf-8"))
        typer.echo(f"wrote {csv_out} ({len(sheet)} rows)", err=fmt == "json")
