"""``patchwarden report``: the latest stored assessment (and run) as HTML, CSV or JSON."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from patchwarden.errors import UsageError
from patchwarden.report import render_csv, render_html, render_json
from patchwarden.report.model import ReportData
from patchwarden.service.assessments import (
    history,
    latest_pair,
    load_run,
    stored_inventory,
)
from patchwarden.service.feeds import stored_advisories
from patchwarden.service.policy import read_baselines
from patchwarden.service.reporting import build_report
from patchwarden.store import open_store, resolve_url

__all__ = ["register", "report"]


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the app."""
    app.command("report")(report)


def _write(path: Path, text: str) -> None:
    # Bytes keep the CSV's CRLF line ends as written, on every platform.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def report(
    html: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the CSV sheet here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the JSON form here."),
    baselines: Path | None = typer.Option(
        None, "--baselines", help="Patch baselines YAML (default: the shipped baselines)."
    ),
    title: str = typer.Option("patchwarden report", "--title", help="Heading of the report."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
) -> None:
    """Write a report of the latest assessment, compared with the one before it.

    The HTML is one self-contained file (viewable offline): executive summary, charts
    (compliance by environment, findings by severity, SLA burn-down and due dates,
    riskiest assets, decisions, baseline states), overdue list, mean time to remediate,
    baselines with snapshot ids, same-patch-level drift, changes, and a per-asset
    drill-down. The latest campaign run is included when one is stored.

    Example: patchwarden report --html report.html --csv versions.csv --json report.json
    """
    if html is None and csv_out is None and json_out is None:
        raise UsageError("say where to write: --html FILE, --csv FILE and/or --json FILE")
    sets = read_baselines(baselines)
    with open_store(resolve_url(db, os.environ)) as store:
        previous, latest = latest_pair(store)
        if latest is None:
            raise UsageError("no assessment stored yet; run `patchwarden assess` first")
        inventory = stored_inventory(store)
        if inventory is None:
            raise UsageError("no inventory stored; run `patchwarden assess` first")
        advisories = {a.id: a for a in stored_advisories(store)}
        trace = load_run(store)
        snaps = history(store)
    before = previous or latest
    # A run belongs to this report when it happened between the two assessments.
    if trace is not None and trace.times:
        started = trace.times[0]
        if not before.assessment.at <= started <= latest.assessment.at:
            trace = None
    data: ReportData = build_report(
        title,
        f"assessment #{latest.id}" + (f" compared with #{previous.id}" if previous else ""),
        datetime.now(UTC),
        before.applied_to(inventory),
        advisories,
        before.assessment,
        latest.assessment,
        trace,
        after_inventory=latest.applied_to(inventory),
        baselines=sets,
        history=snaps,
    )
    for path, render in ((html, render_html), (csv_out, render_csv), (json_out, render_json)):
        if path is not None:
            _write(path, render(data))
            typer.echo(f"wrote {path}")
