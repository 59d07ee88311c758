"""``patchwarden plan CAMPAIGN.yaml``: compile a campaign into a plan and print it as a runbook.

The table form is plain text on purpose: it is read, pasted into tickets and golden-tested,
so it must not depend on the terminal's width or colours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from patchwarden.cli.options import SERVER_OPTION, echo_warnings, parse_at
from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.service.apply import plan_from_files
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.service.runbook import render_plan, render_whatif
from patchwarden.service.whatif import simulate_plan
from patchwarden.store import open_store, resolve_url

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``plan`` command to the app."""
    app.command("plan")(plan)


def plan(
    campaign: Path = typer.Argument(..., help="The campaign YAML file."),
    inventory: list[Path] = typer.Option(
        [], "--inventory", "-i", help="Inventory YAML file(s) (default: the demo estate)."
    ),
    advisories: list[Path] = typer.Option(
        [], "--advisories", help="OSV JSON file(s) (default: the demo advisories)."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Plan as of this time, ISO 8601 (UTC unless an offset is given)."
    ),
    fmt: str = typer.Option("table", "--format", help="table (a runbook) or json (the plan)."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Also run the plan on the simulated estate and predict its cost."
    ),
    server: str | None = SERVER_OPTION,
) -> None:
    """Compile a campaign into a plan: waves, steps, targets, durations, windows.

    The plan is a pure function of the inventory, advisories, campaign and time, so the
    same inputs always give the same plan and hash.

    With --server, the server compiles it (against the inventory files given, else its
    stored inventory, and its own advisories) and keeps it, to be shown again by its hash.

    Example: patchwarden plan campaign.yaml --at 2026-11-24T22:00Z --format json
    Example: PATCHWARDEN_TOKEN=pwt_... patchwarden plan campaign.yaml --server https://patch.example.org
    """
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            _plan_remote(remote, campaign, inventory, advisories, at, fmt, simulate)
        return
    with open_store(resolve_url(None, os.environ)) as store:
        built, warnings = plan_from_files(store, campaign, inventory, advisories, parse_at(at))
    echo_warnings(warnings)
    if fmt == "json":
        typer.echo(built.plan.model_dump_json(indent=2))
    else:
        typer.echo(render_plan(built.plan, built.campaign.promotion.soak), nl=False)
    if simulate:
        typer.echo(
            render_whatif(
                built.plan, simulate_plan(built.plan, built.inventory, built.plan.created_at)
            ),
            err=fmt == "json",
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read: {error}") from error


def _plan_remote(
    remote: RemoteServer,
    campaign: Path,
    inventory: list[Path],
    advisories: list[Path],
    at: str | None,
    fmt: str,
    simulate: bool,
) -> None:
    if advisories or simulate:
        raise UsageError(
            "--advisories and --simulate with --server: the server plans with its own "
            "advisories, and simulates only runs (`apply --server`)"
        )
    body: dict[str, object] = {
        "campaign": _read(campaign),
        "file_name": str(campaign),
        "inventory": [{"file_name": str(p), "text": _read(p)} for p in inventory],
    }
    if at is not None:
        body["at"] = parse_at(at).isoformat()
    answer = remote.call("POST", "/plans", body=body)
    echo_warnings(answer.get("warnings", []))
    if fmt == "json":
        typer.echo(json.dumps(answer["plan"], indent=2))
    else:
        typer.echo(answer["runbook"], nl=False)
