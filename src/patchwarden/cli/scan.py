"""``patchwarden scan``: read installed packages from hosts (SSH, local) and SBOMs, and store them.

Hosts are reached as their inventory ``connection`` says (SSH keys and known_hosts from
``PATCHWARDEN_SSH_KEY`` / ``PATCHWARDEN_SSH_KNOWN_HOSTS``, strict host-key checks). Every
scan is stored with its time and source; ``--stored`` shows the newest stored scans with
their age instead of scanning.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.cli.rows import check_format
from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.errors import UsageError
from patchwarden.service.assessments import stored_inventory
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.service.scan import (
    HostScan,
    host_transport,
    latest_scans,
    record_scans,
    sbom_paths,
    scan_assets,
)
from patchwarden.service.scan_requests import scan_row
from patchwarden.service.selection import select_assets
from patchwarden.service.sources import read_inventory
from patchwarden.store import open_store, resolve_url

__all__ = ["app", "parse_sbom_options", "select_assets"]

# No help= here: the callback's docstring, with its example, is the command's help.
app = typer.Typer(invoke_without_command=True)


def parse_sbom_options(options: Sequence[str], inventory: Inventory) -> dict[str, Path]:
    """``["app=bom.json"]`` → ``{"app": Path("bom.json")}``, checked against the inventory.

    Raises:
        UsageError: not ``ASSET=FILE``, an asset the inventory lacks, or no such file.
    """
    found: dict[str, Path] = {}
    for option in options:
        asset_id, eq, file = option.partition("=")
        if not eq or not asset_id or not file:
            raise UsageError(f"--sbom {option!r}: write ASSET=FILE, e.g. --sbom shop=shop.cdx.json")
        if asset_id not in inventory.by_id:
            raise UsageError(f"--sbom {option!r}: no asset {asset_id!r} in the inventory")
        if not Path(file).is_file():
            raise UsageError(f"--sbom {option!r}: no such file {file}")
        found[asset_id] = Path(file)
    return found


def _print(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table()
    for column in ("asset", "source", "packages", "os", "reboot required", "age", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        notes = row["notes"]
        more = f" (+{len(notes) - 1} more in --format json)" if len(notes) > 1 else ""
        note = row["error"] or (notes[0] + more if notes else "")
        table.add_row(
            row["asset_id"],
            row["source"],
            str(row["packages"]) if row["ok"] else "failed",
            row["os"] or row["ecosystem"],
            row["reboot"] if row["ok"] else "",
            row["age"],
            note,
        )
    Console().print(table)


@app.callback()
def scan_command(
    ctx: typer.Context,
    inventory: list[Path] = typer.Option(
        [], "--inventory", "-i", help="Inventory YAML files (default: the stored inventory)."
    ),
    select: list[str] = typer.Option(
        [], "--select", "-s", help="Assets to scan: key=glob terms, e.g. env=prod,role=web."
    ),
    sbom: list[str] = typer.Option(
        [], "--sbom", help="ASSET=FILE: a CycloneDX JSON SBOM (else the asset's sbom tag)."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    parallel: int = typer.Option(10, "--parallel", min=1, help="Hosts scanned at once."),
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds per host."),
    stored: bool = typer.Option(False, "--stored", help="Show stored scans; scan nothing."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
    server: str | None = SERVER_OPTION,
) -> None:
    """Scan installed packages, OS, architecture and reboot state; store every scan.

    Exit code 1 when any asset could not be scanned (the others are still stored).

    With --server, the server scans the hosts of its inventory in the background; the
    command follows its progress and prints the outcome.

    Example: patchwarden scan -i lab.yaml --select role=web --sbom shop=shop.cdx.json
    Example: patchwarden scan --select env=prod --server https://patch.example.org
    """
    if ctx.invoked_subcommand is not None:
        return
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        if inventory or sbom or db:
            remote.close()
            raise UsageError(
                "--inventory, --sbom and --db with --server: the server scans the hosts of "
                "its own inventory"
            )
        with remote:
            _scan_remote(remote, select, fmt, parallel, timeout, stored)
        return
    with open_store(resolve_url(db, os.environ)) as store:
        estate = read_inventory(inventory).inventory if inventory else stored_inventory(store)
        if estate is None:
            raise UsageError("no inventory: pass --inventory FILE or import one first")
        chosen = select_assets(estate, select)
        if stored:
            wanted = {a.id for a in chosen}
            found = latest_scans(store, ok_only=False)
            scans = [s for a, by in sorted(found.items()) if a in wanted for s in by.values()]
        else:
            sboms = sbom_paths(chosen, parse_sbom_options(sbom, estate))
            scans = _scan(estate, chosen, sboms, fmt, parallel, timeout)
            record_scans(store, scans)
    now = datetime.now(UTC)
    _print([scan_row(s, now) for s in scans], fmt)
    failed = [s for s in scans if not s.ok]
    if fmt == "table":
        typer.echo(f"{len(scans) - len(failed)} scan(s) ok, {len(failed)} failed")
    if failed and not stored:
        raise typer.Exit(1)


def _scan(
    estate: Inventory,
    chosen: list[AssetBase],
    sboms: dict[str, Path],
    fmt: str,
    parallel: int,
    timeout: float,
) -> list[HostScan]:
    reachable = [a for a in chosen if a.connection and a.connection.transport in ("ssh", "local")]
    total = len(reachable) + sum(1 for a in chosen if a.id in sboms)
    if total == 0:
        raise UsageError("nothing to scan: no selected asset has an ssh/local connection or SBOM")
    bars = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=fmt != "table",
    )

    async def run() -> list[HostScan]:
        transport = host_transport(estate)
        task = bars.add_task("scanning", total=total)
        try:
            return await scan_assets(
                chosen,
                transport,
                sboms,
                max_parallel=parallel,
                timeout_s=timeout,
                on_done=lambda s: bars.update(task, advance=1, description=s.asset_id),
            )
        finally:
            await transport.close()

    with bars:
        return asyncio.run(run())


def _scan_remote(
    remote: RemoteServer,
    select: list[str],
    fmt: str,
    parallel: int,
    timeout: float,
    stored: bool,
) -> None:
    if stored:
        rows = remote.call("GET", "/scans/stored", params={"failed": True})
        _print(rows, fmt)
        if fmt == "table":
            failed = sum(1 for r in rows if not r["ok"])
            typer.echo(f"{len(rows) - failed} scan(s) ok, {failed} failed")
        return
    body = {"select": select, "parallel": parallel, "timeout_s": timeout}
    started = remote.call("POST", "/scans", body=body)
    bars = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=fmt != "table",
    )
    end: dict[str, Any] = started
    with bars:
        task = bars.add_task("scanning", total=started["progress"]["total"])
        for status in remote.poll(f"/scans/{started['id']}"):
            progress = status["progress"]
            bars.update(task, completed=progress["done"], description=progress["what"][:24])
            end = status
    if end["state"] != "completed":
        typer.echo(f"scan {end['id']} {end['state']}: {end.get('error') or ''}", err=True)
        raise typer.Exit(1)
    rows = end["result"]["scans"]
    _print(rows, fmt)
    failed = end["result"]["failed"]
    if fmt == "table":
        typer.echo(f"{len(rows) - len(failed)} scan(s) ok, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)
