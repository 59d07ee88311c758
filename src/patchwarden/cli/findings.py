"""``patchwarden findings``: the latest assessment's findings, here or on a server."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import typer

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.cli.rows import check_format, print_rows
from patchwarden.service.findings import FINDING_FIELDS, FindingFilter, find
from patchwarden.service.remote import connect
from patchwarden.store import open_store, resolve_url

__all__ = ["register"]

_COLUMNS = (
    "asset_id",
    "env",
    "package",
    "installed",
    "fixed",
    "advisory_id",
    "severity",
    "decision",
)


def register(app: typer.Typer) -> None:
    """Add the findings command to the app."""
    app.command("findings")(findings)


def findings(
    severity: list[str] = typer.Option([], "--severity", help="Only these severities (repeat)."),
    env: list[str] = typer.Option([], "--env", help="Only these environments (repeat)."),
    decision: list[str] = typer.Option([], "--decision", help="Only these decisions (repeat)."),
    asset: str | None = typer.Option(None, "--asset", help="Only this asset."),
    advisory: str | None = typer.Option(None, "--advisory", help="Only this advisory."),
    page: int = typer.Option(1, "--page", min=1, help="Page, from 1."),
    per_page: int = typer.Option(50, "--per-page", min=1, max=1000, help="Findings a page."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    server: str | None = SERVER_OPTION,
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir)."
    ),
) -> None:
    """Findings of the latest assessment, filtered and paged, here or on a server.

    The same as `GET /api/v1/findings`.

    Example: patchwarden findings --severity critical --env prod
    Example: PATCHWARDEN_TOKEN=pwt_... patchwarden findings --server https://patch.example.org
    """
    check_format(fmt, ("table", "json", "csv"))
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            params: dict[str, Any] = {
                "severity": severity, "env": env, "decision": decision, "page": page,
                "per_page": per_page,
            }  # fmt: skip
            if asset:
                params["asset"] = asset
            if advisory:
                params["advisory"] = advisory
            answer = remote.call("GET", "/findings", params=params)
        rows, total = answer["items"], answer["total"]
    else:
        with open_store(resolve_url(db, os.environ)) as store:
            result = find(
                store, FindingFilter(tuple(severity), tuple(env), tuple(decision), asset, advisory),
                page=page, per_page=per_page,
            )  # fmt: skip
        rows, total = [asdict(r) for r in result.items], result.total
    columns = _COLUMNS if fmt == "table" else FINDING_FIELDS
    print_rows(rows, columns, fmt, title=f"{total} finding(s), page {page}")
