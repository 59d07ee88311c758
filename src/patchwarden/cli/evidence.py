"""``patchwarden evidence put|list|get|verify|lifecycle``: evidence kept for auditors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.cli.options import parse_at
from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.service.audit import cli_actor
from patchwarden.service.evidence import (
    EvidenceStore,
    LifecycleRule,
    apply_lifecycle,
    open_evidence,
    put_evidence,
    verify_evidence,
)
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(
    help="Evidence for auditors: kept in a directory or a storage account, verified.",
    no_args_is_help=True,
    add_completion=False,
)

_DIR = typer.Option(None, "--dir", help="Keep evidence in this local directory.")
_INV = typer.Option([], "--inventory", "-i", help="Inventory file(s) defining --account.")
_ACCOUNT = typer.Option(
    None, "--account", help="A storage_account asset (driver: azure_blob) to keep it in."
)
_CONTAINER = typer.Option("evidence", "--container", help="The account's container.")
_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB).")
_FMT = typer.Option("table", "--format", help="table or json.")


def _store(
    directory: Path | None, inventory: list[Path], account: str | None, container: str
) -> tuple[EvidenceStore, tuple[LifecycleRule, ...]]:
    return open_evidence(directory, inventory, account, container)


@app.command(
    epilog=(
        "Example:\n\n  patchwarden evidence put report.html --as reports/2026-12.html "
        "--dir /srv/evidence"
    )
)
def put(
    file: Path = typer.Argument(..., help="The file to keep."),
    name: str | None = typer.Option(
        None, "--as", help="Its name in the store (default: file name)."
    ),
    directory: Path | None = _DIR,
    inventory: list[Path] = _INV,
    account: str | None = _ACCOUNT,
    container: str = _CONTAINER,
    db: str | None = _DB,
) -> None:
    """Write a file to the evidence store (hot), its SHA-256 recorded in the audit trail."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {file}: {error.strerror}") from error
    evidence, _ = _store(directory, inventory, account, container)
    with open_store(resolve_url(db, os.environ)) as store:
        obj = put_evidence(store, evidence, name or file.name, data, cli_actor("evidence"),
                           parse_at(None))  # fmt: skip
    typer.echo(f"kept {obj.name} ({obj.size} bytes, sha256 {obj.sha256[:16]}, {obj.tier})")


@app.command("list", epilog="Example:\n\n  patchwarden evidence list --dir /srv/evidence")
def list_command(
    directory: Path | None = _DIR,
    inventory: list[Path] = _INV,
    account: str | None = _ACCOUNT,
    container: str = _CONTAINER,
    fmt: str = _FMT,
) -> None:
    """List the kept objects with their size, tier, SHA-256 and encryption."""
    check_format(fmt)
    evidence, _ = _store(directory, inventory, account, container)
    objects = evidence.list()
    if fmt == "json":
        typer.echo(json.dumps([
            {"name": o.name, "size": o.size, "sha256": o.sha256, "tier": o.tier,
             "written": o.written.isoformat(), "encrypted": o.encrypted} for o in objects
        ], indent=2))  # fmt: skip
        return
    table = Table("name", "size", "tier", "written", "encrypted", "sha256")
    for o in objects:
        encrypted = "-" if o.encrypted is None else str(o.encrypted).lower()
        written = o.written.isoformat(timespec="seconds")
        table.add_row(o.name, str(o.size), o.tier, written, encrypted, o.sha256[:16])
    Console(highlight=False, soft_wrap=True).print(table)


@app.command(
    epilog=(
        "Example:\n\n  patchwarden evidence get reports/2026-12.html --dir /srv/evidence > r.html"
    )
)
def get(
    name: str = typer.Argument(..., help="The object's name."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    directory: Path | None = _DIR,
    inventory: list[Path] = _INV,
    account: str | None = _ACCOUNT,
    container: str = _CONTAINER,
) -> None:
    """Read an object back."""
    evidence, _ = _store(directory, inventory, account, container)
    data = evidence.get(name)
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)


@app.command(epilog="Example:\n\n  patchwarden evidence verify --dir /srv/evidence")
def verify(
    directory: Path | None = _DIR,
    inventory: list[Path] = _INV,
    account: str | None = _ACCOUNT,
    container: str = _CONTAINER,
    db: str | None = _DB,
    fmt: str = _FMT,
) -> None:
    """Check each object's SHA-256 against the audit trail; exit 1 on any difference."""
    check_format(fmt)
    evidence, _ = _store(directory, inventory, account, container)
    with open_store(resolve_url(db, os.environ)) as store:
        rows = verify_evidence(store, evidence)
    if fmt == "json":
        typer.echo(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        for row in rows:
            typer.echo(f"{row.status:<10} {row.name}" + (f"  ({row.detail})" if row.detail else ""))
    if any(r.status != "ok" for r in rows):
        raise typer.Exit(code=1)


@app.command(
    epilog="Example:\n\n  patchwarden evidence lifecycle -i inventory.yaml --account evidence"
)
def lifecycle(
    directory: Path | None = _DIR,
    inventory: list[Path] = _INV,
    account: str | None = _ACCOUNT,
    container: str = _CONTAINER,
    at: str | None = typer.Option(None, "--at", help="Ages as of this time (ISO 8601)."),
    db: str | None = _DB,
) -> None:
    """Move objects to cool or archive, or delete them, by the account's lifecycle rules."""
    evidence, rules = _store(directory, inventory, account, container)
    if not rules:
        raise UsageError("the store has no lifecycle rules (set `lifecycle:` on its account)")
    with open_store(resolve_url(db, os.environ)) as store:
        moves = apply_lifecycle(store, evidence, rules, cli_actor("evidence"), parse_at(at))
    for move in moves:
        typer.echo(f"{move.name}: {move.was} -> {move.now} (age {move.age_days} days)")
    typer.echo(f"{len(moves)} object(s) moved")
