"""``patchwarden report``: the latest stored assessment (and run) as HTML, CSV or JSON."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.errors import UsageError
from patchwarden.report import render_csv, render_html, render_json
from patchwarden.service.remote import connect
from patchwarden.service.report_views import stored_report
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
    server: str | None = SERVER_OPTION,
) -> None:
    """Write a report of the latest assessment, compared with the one before it.

    The HTML is one self-contained file (viewable offline): executive summary, charts
    (compliance by environment, findings by severity, SLA burn-down and due dates,
    riskiest assets, decisions, baseline states), overdue list, mean time to remediate,
    baselines with snapshot ids, same-patch-level drift, changes, and a per-asset
    drill-down. The latest campaign run is included when one is stored.

    With --server, the server makes the report from its store.

    Example: patchwarden report --html report.html --csv versions.csv --json report.json
    """
    if html is None and csv_out is None and json_out is None:
        raise UsageError("say where to write: --html FILE, --csv FILE and/or --json FILE")
    targets = [(p, f) for p, f in ((html, "html"), (csv_out, "csv"), (json_out, "json")) if p]
    remote = connect(server, os.environ)
    if remote is not None:
        if baselines is not None:
            remote.close()
            raise UsageError("--baselines with --server: the server reports with its baselines")
        with remote:
            for path, fmt in targets:
                params = {"format": fmt, "title": title}
                _write(path, remote.call("GET", "/report", params=params, text=True))
                typer.echo(f"wrote {path}")
        return
    renderers = {"html": render_html, "csv": render_csv, "json": render_json}
    with open_store(resolve_url(db, os.environ)) as store:
        data = stored_report(store, title, datetime.now(UTC), baselines)
    for path, fmt in targets:
        _write(path, renderers[fmt](data))
        typer.echo(f"wrote {path}")
