"""``patchwarden audit verify|show|head``: the tamper-evident audit trail."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from patchwarden.cli.options import parse_at
from patchwarden.cli.rows import check_format
from patchwarden.service.audit import AuditFilter, export_head, read_head, verify_trail
from patchwarden.store import Store, open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(
    help="The tamper-evident audit trail: verify the hash chain, show entries, export its head.",
    no_args_is_help=True,
)

_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir).")


def _store(db: str | None) -> Store:
    return open_store(resolve_url(db, os.environ))


@app.command("verify")
def verify(
    head: Path | None = typer.Option(
        None, "--head", help="A head exported earlier by `audit head`: detects a cut tail."
    ),
    db: str | None = _DB,
) -> None:
    """Check every link of the chain; exit 1 naming each entry that was tampered with.

    Example: patchwarden audit verify --head /mnt/evidence/audit-head.json
    """
    exported = read_head(head) if head is not None else None
    with _store(db) as store:
        report = verify_trail(store, exported)
    if report.head is None:
        typer.echo("audit trail is empty")
        return
    against = f"; head #{exported.seq} from {head} matches" if exported and head else ""
    typer.echo(
        f"audit trail ok: {report.entries} entries, head #{report.head.seq} "
        f"{report.head.hash[:16]}{against}"
    )


@app.command("head")
def head(
    out: Path = typer.Option(..., "--out", help="Where to write the head (JSON)."),
    db: str | None = _DB,
) -> None:
    """Export the chain's head (last entry's number and hash) to a file kept elsewhere.

    Example: patchwarden audit head --out /mnt/evidence/audit-head.json
    """
    with _store(db) as store:
        exported = export_head(store, out, datetime.now(UTC))
    typer.echo(f"head #{exported.seq} {exported.hash[:16]} written to {out}")


@app.command("show")
def show(
    actor: str | None = typer.Option(None, "--actor", help="Only this person's entries."),
    action: str | None = typer.Option(
        None, "--action", help="Only actions starting with this, e.g. change. or user.add."
    ),
    obj: str | None = typer.Option(
        None, "--object", help="Only this object: TYPE or TYPE:ID, e.g. change:12."
    ),
    since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601)."),
    until: str | None = typer.Option(None, "--until", help="Before this time (ISO 8601)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
) -> None:
    """Show audit entries, oldest first, filtered.

    Example: patchwarden audit show --action change. --since 2026-12-01
    """
    check_format(fmt)
    object_type, _, object_id = (obj or "").partition(":")
    where = AuditFilter(
        actor=actor,
        action=action,
        object_type=object_type or None,
        object_id=object_id or None,
        since=parse_at(since) if since else None,
        until=parse_at(until) if until else None,
    )
    with _store(db) as store:
        entries = store.audit.entries(where)
    if fmt == "json":
        typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return
    for e in entries:
        what = f"{e.object_type}:{e.object_id}"
        pinned = f" [{e.object_hash[:12]}]" if e.object_hash else ""
        typer.echo(
            f"#{e.seq:<5} {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<12} {e.action:<16} {what}{pinned}"
            f"  ({e.source})"
        )
    typer.echo(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
