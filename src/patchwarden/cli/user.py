"""``patchwarden user add|passwd|disable|enable|list``: local users of the server.

Passwords are never taken from the command line (where ``ps`` and shell history would
show them): they are prompted for twice on a terminal, or read as one line from standard
input, e.g. ``pass show patchwarden/alice | patchwarden user add alice --role admin``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer

from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.service.audit import cli_actor
from patchwarden.service.identity import add_user, disable_user, set_password
from patchwarden.store import Store, open_store, resolve_url

__all__ = ["app", "read_password"]

app = typer.Typer(
    help="Local users of the server: add, change a password, disable, list.",
    no_args_is_help=True,
)

_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir).")


def _store(db: str | None) -> Store:
    return open_store(resolve_url(db, os.environ))


def _me() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


def read_password() -> str:
    """A password: prompted twice on a terminal, else the first line of standard input.

    Raises:
        UsageError: standard input is empty.
    """
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("no password on standard input; pipe one line, or run on a terminal")
    return line


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The user name (lower case)."),
    role: str = typer.Option("viewer", "--role", help="viewer, operator, approver or admin."),
    env: list[str] = typer.Option([], "--env", help="Limit the user to this environment (repeat)."),
    db: str | None = _DB,
) -> None:
    """Add a user; the password is prompted for, or read from standard input.

    The first admin is made this way on the server's machine:

    Example: patchwarden user add alice --role admin
    """
    password = read_password()
    with _store(db) as store:
        user = add_user(store, name, password, role, env, cli_actor(_me()))
    scope = ", ".join(user.environments) or "all environments"
    typer.echo(f"user {user.name} added: {user.role} ({scope})")


@app.command("passwd")
def passwd(
    name: str = typer.Argument(..., help="The user name."),
    db: str | None = _DB,
) -> None:
    """Set a user's password (prompted, or from standard input); its sessions end.

    Example: patchwarden user passwd alice
    """
    password = read_password()
    with _store(db) as store:
        set_password(store, name, password, cli_actor(_me()))
    typer.echo(f"password of {name} changed; its sessions were ended")


@app.command("disable")
def disable(
    name: str = typer.Argument(..., help="The user name."),
    db: str | None = _DB,
) -> None:
    """Disable a user: no login, its sessions end, its tokens stop working.

    Example: patchwarden user disable mallory
    """
    with _store(db) as store:
        disable_user(store, name, cli_actor(_me()))
    typer.echo(f"user {name} disabled")


@app.command("enable")
def enable(
    name: str = typer.Argument(..., help="The user name."),
    db: str | None = _DB,
) -> None:
    """Enable a disabled user again.

    Example: patchwarden user enable mallory
    """
    with _store(db) as store:
        disable_user(store, name, cli_actor(_me()), disabled=False)
    typer.echo(f"user {name} enabled")


@app.command("list")
def list_users(
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
) -> None:
    """List users with their roles and environments (never their password hashes).

    Example: patchwarden user list --format json
    """
    check_format(fmt)
    with _store(db) as store:
        users = store.accounts.users()
    rows: list[dict[str, Any]] = [
        {
            "name": u.name,
            "role": u.role,
            "environments": list(u.environments),
            "disabled": u.disabled,
            "created_at": u.created_at.isoformat(),
        }
        for u in users
    ]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        envs = ", ".join(r["environments"]) or "all"
        typer.echo(f"{r['name']:<20} {r['role']:<9} {state:<9} {envs}")
    typer.echo(f"{len(rows)} user(s)")
