"""``patchwarden storage check``: storage accounts against their baseline."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.cli.options import parse_at
from patchwarden.cli.rows import check_format
from patchwarden.service.storage import check_storage

__all__ = ["app"]

app = typer.Typer(
    help="Storage accounts: encryption, TLS, public access, redundancy, recovery, lifecycle.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command(
    epilog="Example:\n\n  ACMELOGS_SAS='sv=...&sig=...' patchwarden storage check -i inventory.yaml"
)
def check(
    inventory: list[Path] = typer.Option(..., "--inventory", "-i", help="Inventory file(s)."),
    at: str | None = typer.Option(None, "--at", help="Date due dates count from (ISO 8601)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Check each storage account; print each gap with its reason, fix and due date.

    Rules: encryption at rest and in transit, minimum TLS, public access, redundancy for
    the data's criticality, versioning or soft delete in prod, lifecycle of logs. An
    account with a real `driver` (azure_blob) is read through its service first; the
    inventory fills what the service does not show. Exit code 1 when a service could not
    be read (its inventory was used instead).
    """
    check_format(fmt)
    result = check_storage(inventory, parse_at(at).date())
    if fmt == "json":
        typer.echo(json.dumps(result.as_json(), indent=2))
    else:
        console = Console(highlight=False, soft_wrap=True)
        table = Table("account", "env", "rule", "severity", "due", "from", "reason", "fix")
        for g in result.gaps:
            table.add_row(
                g.asset_id, g.env, g.rule, g.severity.value, g.due.isoformat(), g.source,
                g.reason, g.fix,
            )  # fmt: skip
        console.print(table)
        for account, where in result.read_from.items():
            console.print(f"{account}: settings from {where}", markup=False)
    for account, why in result.errors.items():
        typer.echo(f"warning: {account}: service not read ({why}); used the inventory", err=True)
    if result.errors:
        raise typer.Exit(code=1)
