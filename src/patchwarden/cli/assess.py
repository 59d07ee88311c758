"""``patchwarden assess``: match, weigh and decide; ``assess diff``: what changed.

Inputs come from the store (the inventory and advisories imported there) unless inventory
files or ``--demo`` say otherwise. Each run is recorded, so SLAs count from when a finding
was first seen and ``report`` has something to show.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from patchwarden.cli.rows import check_format, print_rows
from patchwarden.domain.inventory import Inventory
from patchwarden.service.assessing import Assessment, assess_estate, compare_assessments
from patchwarden.service.policy import read_policy
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

# No help= here: the callback's docstring, with its example, is the command's help.
app = typer.Typer(invoke_without_command=True)

_COLUMNS = (
    "asset_id",
    "env",
    "advisory_id",
    "package",
    "source",
    "source_version",
    "installed",
    "fixed",
    "severity",
    "action",
    "due",
    "review",
    "risk",
    "patch_risk",
    "reason",
)
_TABLE = ("asset_id", "env", "advisory_id", "package", "severity", "action", "due", "reason")
_FORMATS = ("table", "json", "csv")


def _rows(assessment: Assessment, inventory: Inventory) -> list[dict[str, Any]]:
    env = {a.id: a.env for a in inventory.assets}
    decided = assessment.decision_of()
    rows = []
    for f in assessment.findings:
        d = decided[(f.asset_id, f.advisory_id, f.package)]
        rows.append(
            {
                "asset_id": f.asset_id,
                "env": env.get(f.asset_id, ""),
                "advisory_id": f.advisory_id,
                "package": f.package,
                "source": f.source,
                "source_version": f.source_version,
                "installed": f.installed,
                "fixed": f.fixed,
                "severity": f.severity.value,
                "action": d.action.value,
                "due": d.due.isoformat() if d.due else "",
                "review": d.review.isoformat() if d.review else "",
                "risk": d.risk,
                "patch_risk": d.patch_risk,
                "reason": d.reason,
            }
        )
    return rows


@app.callback()
def assess_command(
    ctx: typer.Context,
    inventory: list[Path] = typer.Option(
        [], "--inventory", "-i", help="Inventory YAML files (default: the stored inventory)."
    ),
    demo: bool = typer.Option(False, "--demo", help="Assess the built-in demo estate."),
    policy: Path | None = typer.Option(
        None, "--policy", help="Decision policy YAML (default: the shipped policy)."
    ),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    action: str | None = typer.Option(
        None, "--action", help="Only show one action: emergency, next_window, defer, ignore."
    ),
    record: bool = typer.Option(True, "--record/--no-record", help="Store the assessment."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
) -> None:
    """Match installed packages against advisories and decide each finding, with a reason.

    Each decision weighs the risk of not patching (severity, KEV, EPSS, exposure,
    criticality, environment) against the risk of patching (reboot, core component,
    change size, failures in earlier environments, uptime, redundancy).

    Example: patchwarden assess --demo --action emergency --format table
    """
    if ctx.invoked_subcommand is not None:
        return
    check_format(fmt, _FORMATS)
    chosen = read_policy(policy)
    with open_store(resolve_url(db, os.environ)) as store:
        done = assess_estate(
            store, inventory, demo=demo, policy=chosen, now=datetime.now(UTC), record=record
        )
    result = done.assessment
    rows = [r for r in _rows(result, done.inventory) if action is None or r["action"] == action]
    print_rows(rows, _TABLE if fmt == "table" else _COLUMNS, fmt)
    if fmt == "table":
        counts = result.actions()
        words = ", ".join(f"{counts[a]} {a.value}" for a in sorted(counts, key=str))
        where = f" (recorded as #{done.recorded})" if done.recorded is not None else ""
        typer.echo(f"{len(result.findings)} finding(s): {words}{where}")
        if done.since is not None:
            change = done.since.counts()
            typer.echo(
                f"since #{done.previous}: {change['new']} new, {change['resolved']} resolved,"
                f" {change['still_open']} still open"
            )


@app.command("diff")
def diff_command(
    old: int | None = typer.Argument(None, help="Earlier assessment id (default: previous)."),
    new: int | None = typer.Argument(None, help="Later assessment id (default: latest)."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
) -> None:
    """Compare two stored assessments: new, resolved and still-open findings.

    Example: patchwarden assess diff 3 7 --format json
    """
    check_format(fmt, _FORMATS)
    with open_store(resolve_url(db, os.environ)) as store:
        compared = compare_assessments(store, old, new)
    change = compared.diff
    rows = [
        {
            "change": kind,
            "asset_id": f.asset_id,
            "advisory_id": f.advisory_id,
            "package": f.package,
            "installed": f.installed,
            "severity": f.severity.value,
        }
        for kind, found in (
            ("new", change.new),
            ("resolved", change.resolved),
            ("still_open", change.still_open),
        )
        for f in found
    ]
    columns = ("change", "asset_id", "advisory_id", "package", "installed", "severity")
    if fmt == "table":
        print_rows([r for r in rows if r["change"] != "still_open"], columns, fmt)
    else:
        print_rows(rows, columns, fmt)
    counts = change.counts()
    if fmt == "table":
        typer.echo(
            f"#{compared.before} → #{compared.after}: {counts['new']} new,"
            f" {counts['resolved']} resolved, {counts['still_open']} still open"
        )
