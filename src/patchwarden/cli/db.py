"""``patchwarden db upgrade|status``: the database's schema."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import typer

from patchwarden.cli.rows import check_format
from patchwarden.service.database import SchemaState, database_status, upgrade_database

__all__ = ["app"]

app = typer.Typer(
    help="The database: migrate its schema (PostgreSQL or SQLite), or show where it stands.",
    no_args_is_help=True,
)

_DB = typer.Option(
    None, "--db", help="Database URL (default: PATCHWARDEN_DB, then the user data dir)."
)
_FORMAT = typer.Option("table", "--format", help="table or json.")


def _show(state: SchemaState, fmt: str, line: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps({**asdict(state), "current": state.current}))
    else:
        typer.echo(line)


@app.command(
    "upgrade",
    epilog="Example: PATCHWARDEN_DB=postgresql+psycopg://pw@db.example/patchwarden "
    "patchwarden db upgrade",
)
def upgrade(db: str | None = _DB, fmt: str = _FORMAT) -> None:
    """Migrate the database's schema to the newest revision (idempotent)."""
    check_format(fmt)
    state = upgrade_database(db, os.environ)
    if state.before == state.after:
        line = f"{state.url}: schema already current (revision {state.after})"
    else:
        line = f"{state.url}: schema migrated from {state.before or 'empty'} to {state.after}"
    _show(state, fmt, line)


@app.command("status", epilog="Example: patchwarden db status --db sqlite:///patchwarden.db")
def status(db: str | None = _DB, fmt: str = _FORMAT) -> None:
    """Show the schema revision of the database and whether it is current; change nothing."""
    check_format(fmt)
    state = database_status(db, os.environ)
    if state.current:
        line = f"{state.url} ({state.backend}): schema current (revision {state.head})"
    else:
        line = (
            f"{state.url} ({state.backend}): schema at {state.before or 'nothing (empty)'}, "
            f"newest is {state.head}; run `patchwarden db upgrade`"
        )
    _show(state, fmt, line)
