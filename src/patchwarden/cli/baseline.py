"""``patchwarden baseline show|check|drift``: patch baselines, compliance and patch levels."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.cli.rows import check_format, print_rows
from patchwarden.errors import UsageError
from patchwarden.service.baseline_views import baselines_shown, compliance, drift_rows, sheet_csv
from patchwarden.service.baselines import PatchState
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(help="Patch baselines: approved patches, compliance, same patch level.")

_FILE = typer.Option(None, "--baselines", help="Baselines YAML (default: the shipped ones).")
_INVENTORY = typer.Option([], "--inventory", "-i", help="Inventory YAML (default: stored).")
_DEMO = typer.Option(False, "--demo", help="Use the built-in demo estate and advisories.")
_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB).")
_FORMAT = typer.Option("table", "--format", help="table or json.")


def _remote(server: str | None, *local: object) -> RemoteServer | None:
    """The server to ask, if any; options that choose local inputs mean nothing there."""
    remote = connect(server, os.environ)
    if remote is not None and any(local):
        remote.close()
        raise UsageError(
            "--inventory, --baselines and --demo with --server: the server checks its own "
            "inventory against its baselines"
        )
    return remote


@app.command("show")
def show(
    baselines: Path | None = _FILE,
    os_family: str | None = typer.Option(None, "--os", help="Only this OS family."),
    demo: bool = _DEMO,
    fmt: str = _FORMAT,
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Show each baseline's rules and its snapshot: the approved and rejected patches now.

    Example: patchwarden baseline show --demo --os debian
    """
    check_format(fmt)
    now = datetime.now(UTC)
    remote = _remote(server, baselines, demo)
    if remote is not None:
        with remote:
            out = remote.call("GET", "/baselines", params={"os": os_family} if os_family else {})
    elif demo:
        out = baselines_shown(None, now, baselines=baselines, os_family=os_family)
    else:
        with open_store(resolve_url(db, os.environ)) as store:
            out = baselines_shown(store, now, baselines=baselines, os_family=os_family)
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
    server: str | None = SERVER_OPTION,
) -> None:
    """Check every asset against its baseline; exit 1 if any asset is non-compliant.

    States per asset and patch: installed, installed_other, installed_pending_reboot,
    installed_rejected, missing, failed, not_applicable, provider_responsibility.

    Example: patchwarden baseline check --demo --format json
    """
    check_format(fmt)
    remote = _remote(server, inventory, baselines, demo)
    if remote is not None:
        with remote:
            answer = remote.call("GET", "/baselines/compliance")
        assets, snapshots = answer["assets"], answer["snapshots"]
    else:
        with open_store(resolve_url(db, os.environ)) as store:
            assets, snapshots = compliance(
                store, datetime.now(UTC), inventory_files=inventory, baselines=baselines,
                demo=demo,
            )  # fmt: skip
    if fmt == "json":
        typer.echo(json.dumps(assets, indent=2))
    else:
        rows = []
        for r in assets:
            counts = Counter(p["state"] for p in r["patches"])
            rows.append(
                {
                    "asset": r["asset_id"],
                    "env": r["env"],
                    "baseline": r["baseline"] or "-",
                    "compliant": "yes" if r["compliant"] else "NO",
                    "states": ", ".join(
                        f"{counts[s.value]} {s.value}"
                        for s in PatchState
                        if counts[s.value] and (show_all or s is not PatchState.NOT_APPLICABLE)
                    ),
                }
            )
        print_rows(rows, ("asset", "env", "baseline", "compliant", "states"))
        for snap in snapshots:
            typer.echo(
                f"{snap['baseline']}: snapshot {snap['snapshot_id']} ({snap['approved']} approved)"
            )
    bad = sum(1 for r in assets if not r["compliant"])
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
    server: str | None = SERVER_OPTION,
) -> None:
    """Same patch level: who deviates from their role, cluster, pool or environment.

    Example: patchwarden baseline drift --demo --csv versions.csv
    """
    check_format(fmt)
    remote = _remote(server, inventory, baselines, demo)
    if remote is not None:
        with remote:
            answer = remote.call("GET", "/baselines/drift")
            sheet = None
            if csv_out is not None:
                text = remote.call("GET", "/baselines/drift", params={"format": "csv"}, text=True)
                sheet = (text, text.count("\n") - 1)
        rows, aligned, groups = answer["deviations"], answer["aligned"], answer["groups"]
    else:
        rows, aligned, groups, sheet = _drift_local(db, inventory, baselines, demo, csv_out)
    _print_drift(rows, aligned, groups, sheet, fmt, csv_out)


def _drift_local(
    db: str | None,
    inventory: list[Path],
    baselines: Path | None,
    demo: bool,
    csv_out: Path | None,
) -> tuple[list[dict[str, Any]], int, int, tuple[str, int] | None]:
    with open_store(resolve_url(db, os.environ)) as store:
        rows, aligned, groups = drift_rows(store, inventory_files=inventory, demo=demo)
        sheet = (
            sheet_csv(
                store,
                datetime.now(UTC),
                inventory_files=inventory,
                baselines=baselines,
                demo=demo,
            )  # fmt: skip
            if csv_out is not None
            else None
        )
    return rows, aligned, groups, sheet


def _print_drift(
    rows: list[dict[str, Any]],
    aligned: int,
    groups: int,
    sheet: tuple[str, int] | None,
    fmt: str,
    csv_out: Path | None,
) -> None:
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print_rows(rows, ("group", "asset_id", "package", "version", "reference", "how"))
        typer.echo(f"{aligned} of {groups} groups on the same patch level")
    if csv_out is not None and sheet is not None:
        text, count = sheet
        csv_out.write_bytes(text.encode("utf-8"))
        typer.echo(f"wrote {csv_out} ({count} rows)", err=fmt == "json")
