"""``patchwarden token create|revoke|list``: API tokens, shown once, stored hashed."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import typer

from patchwarden.cli.rows import check_format
from patchwarden.service.audit import cli_actor
from patchwarden.service.identity import create_token, expiry_from, revoke_token
from patchwarden.store import Store, open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(
    help="API tokens: create (shown once, stored hashed), revoke, list.", no_args_is_help=True
)

_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir).")


def _store(db: str | None) -> Store:
    return open_store(resolve_url(db, os.environ))


def _me() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "cli"


@app.command("create")
def create(
    user: str = typer.Option(..., "--user", help="Whose token it is."),
    name: str = typer.Option("", "--name", help="What it is for, e.g. ci."),
    role: str | None = typer.Option(
        None, "--role", help="The token's role, at most the user's (default: the user's)."
    ),
    env: list[str] = typer.Option([], "--env", help="Limit it to this environment (repeat)."),
    expires: str = typer.Option(
        "90d", "--expires", help="A duration (30d, 12h), a time (ISO 8601), or never."
    ),
    db: str | None = _DB,
) -> None:
    """Create an API token and print it once; only its hash is kept.

    Example: patchwarden token create --user alice --role viewer --expires 30d --name ci
    """
    now = datetime.now(UTC)
    with _store(db) as store:
        issued = create_token(
            store, user, name, role, env, expiry_from(expires, now), cli_actor(_me())
        )
    r = issued.record
    until = r.expires_at.isoformat() if r.expires_at else "never"
    typer.echo(issued.secret)
    typer.echo(
        f"token {r.id} for {r.user} ({r.role}, {', '.join(r.environments) or 'all environments'}),"
        f" expires {until}; it is shown only this once",
        err=True,
    )


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token's id (see `patchwarden token list`)."),
    db: str | None = _DB,
) -> None:
    """Revoke a token; the server refuses it from now on.

    Example: patchwarden token revoke 3f9a1c2b7d40
    """
    with _store(db) as store:
        r = revoke_token(store, token_id, cli_actor(_me()))
    typer.echo(f"token {r.id} of {r.user} revoked at {r.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


@app.command("list")
def list_tokens(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
) -> None:
    """List tokens: id, user, role, expiry, revocation (never a secret or its hash).

    Example: patchwarden token list --user alice
    """
    check_format(fmt)
    with _store(db) as store:
        tokens = store.accounts.tokens(user)
    rows = [
        {
            "id": t.id,
            "user": t.user,
            "name": t.name,
            "role": t.role,
            "environments": list(t.environments),
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in tokens
    ]
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else f"expires {r['expires_at'] or 'never'}"
        typer.echo(f"{r['id']}  {r['user']:<16} {r['role']:<9} {r['name'] or '-':<12} {state}")
    typer.echo(f"{len(rows)} token(s)")
