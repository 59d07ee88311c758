"""``patchwarden assess``: match, weigh and decide; ``assess diff``: what changed.

Inputs come from the store (the inventory and advisories imported there) unless inventory
files or ``--demo`` say otherwise. Each run is recorded, so SLAs count from when a finding
was first seen and ``report`` has something to show.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.assess.assessment import Assessment, assess
from patchwarden.assess.diff import diff_findings
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.responsibility import owner_of
from patchwarden.errors import UsageError
from patchwarden.service.assessments import (
    first_seen_in_store,
    latest_pair,
    load_assessment,
    load_run,
    record_assessment,
    run_outcome,
)
from patchwarden.service.inputs import EstateInputs, Origin, estate_inputs
from patchwarden.service.policy import read_policy
from patchwarden.store import Store, open_store, resolve_url

__all__ = ["app"]

# No help= here: the callback's docstring, with its example, is the command's help.
app = typer.Typer(invoke_without_command=True)

_COLUMNS = (
    "asset_id",
    "env",
    "advisory_id",
    "package",
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


def _remember(store: Store, inputs: EstateInputs) -> None:
    """Store what was assessed, so ``report`` and later runs work from the same estate."""
    loaded = inputs.loaded
    if inputs.origin is Origin.STORED or loaded is None:
        return  # assessed the stored inventory: nothing new to keep
    inventory = loaded.inventory
    store.replace_inventory(
        inventory,
        {a.id: owner_of(a).value for a in inventory.assets},
        {a.id: loaded.source_of(a.id) for a in inventory.assets},
    )
    if inputs.origin is Origin.DEMO:
        advisories = inputs.advisories
        store.upsert_advisories(
            (a.id, a.modified, a.withdrawn, a.model_dump(mode="json")) for a in advisories
        )


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


def _print(rows: list[dict[str, Any]], fmt: str, columns: tuple[str, ...]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(out.getvalue(), nl=False)
    else:
        table = Table(show_lines=False)
        for col in columns:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[c]) for c in columns))
        Console().print(table)


def _check_format(fmt: str) -> None:
    if fmt not in _FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(_FORMATS)}", param_hint="--format")


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
    _check_format(fmt)
    chosen = read_policy(policy)
    with open_store(resolve_url(db, os.environ)) as store:
        inputs = estate_inputs(store, inventory, demo=demo, own_estate=True)
        estate, advisories = inputs.inventory, inputs.advisories
        outcome = run_outcome(load_run(store))
        result = assess(
            estate,
            advisories,
            datetime.now(UTC),
            chosen,
            failures=outcome.failures,
            first_seen=first_seen_in_store(store),
        )
        _, previous = latest_pair(store)
        ident = None
        if record:
            _remember(store, inputs)
            ident = record_assessment(store, result, estate)
    rows = [r for r in _rows(result, estate) if action is None or r["action"] == action]
    _print(rows, fmt, _TABLE if fmt == "table" else _COLUMNS)
    if fmt == "table":
        counts = result.actions()
        words = ", ".join(f"{counts[a]} {a.value}" for a in sorted(counts, key=str))
        where = f" (recorded as #{ident})" if ident is not None else ""
        typer.echo(f"{len(result.findings)} finding(s): {words}{where}")
        if previous is not None:
            change = diff_findings(previous.assessment.findings, result.findings).counts()
            typer.echo(
                f"since #{previous.id}: {change['new']} new, {change['resolved']} resolved,"
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
    _check_format(fmt)
    with open_store(resolve_url(db, os.environ)) as store:
        if old is None and new is None:
            before, after = latest_pair(store)
        else:
            latest = store.latest_assessment()
            after = (
                load_assessment(store, new)
                if new
                else (load_assessment(store, latest.id) if latest else None)
            )
            before = load_assessment(store, old) if old else None
    if before is None or after is None:
        raise UsageError("need two stored assessments; run `patchwarden assess` twice first")
    change = diff_findings(before.assessment.findings, after.assessment.findings)
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
        _print([r for r in rows if r["change"] != "still_open"], fmt, columns)
    else:
        _print(rows, fmt, columns)
    counts = change.counts()
    if fmt == "table":
        typer.echo(
            f"#{before.id} → #{after.id}: {counts['new']} new, {counts['resolved']} resolved,"
            f" {counts['still_open']} still open"
        )
