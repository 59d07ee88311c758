"""``patchwarden channels check``: new versions on the applications' update channels."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.cli.options import parse_at
from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.service.audit import cli_actor
from patchwarden.service.channels import (
    AUTO_APPROVE,
    SmtpConfig,
    outcomes_json,
    run_channel_check,
)
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(
    help="Update channels: find newer application versions and act on each policy.",
    no_args_is_help=True,
    add_completion=False,
)

_FAILED = ("error", "notify_failed")


def _smtp(address: str | None, sender: str, starttls: bool) -> SmtpConfig | None:
    if address is None:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--smtp {address!r}: write HOST:PORT, e.g. mail.example.com:25")
    return SmtpConfig(
        host=host.strip("[]"),
        port=int(port),
        sender=sender,
        starttls=starttls,
        username=os.environ.get("PATCHWARDEN_SMTP_USER", ""),
        password=os.environ.get("PATCHWARDEN_SMTP_PASSWORD", ""),
    )


@app.command(
    epilog=(
        "Example:\n\n"
        "  patchwarden channels check -i inventory.yaml --smtp mail.example.com:25 "
        "--mail-from patchwarden@example.com"
    )
)
def check(
    inventory: list[Path] = typer.Option(..., "--inventory", "-i", help="Inventory file(s)."),
    campaigns: Path = typer.Option(
        Path("channel-campaigns"), "--campaigns", help="Where `auto` campaigns are written."
    ),
    auto_approve: str = typer.Option(
        ",".join(AUTO_APPROVE),
        "--auto-approve",
        help="Environments where an `auto` campaign needs no change record (comma-separated).",
    ),
    smtp: str | None = typer.Option(
        None,
        "--smtp",
        metavar="HOST:PORT",
        help="SMTP server for `notify` e-mail; login from PATCHWARDEN_SMTP_USER/_PASSWORD.",
    ),
    mail_from: str = typer.Option("patchwarden@localhost", "--mail-from", help="From address."),
    starttls: bool = typer.Option(False, "--starttls", help="Use STARTTLS with --smtp."),
    at: str | None = typer.Option(None, "--at", help="Record as of this time (ISO 8601)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
) -> None:
    """Read each application's channel; act on the newest version by its policy.

    `auto` writes a campaign (and submits its change outside --auto-approve environments),
    `notify` posts to the webhook and/or mails the addresses, `manual` records it. Each
    new version is recorded in the audit trail and acted on once. Exit code 1 when a
    channel could not be read or a message not sent.
    """
    check_format(fmt)
    envs = tuple(e.strip() for e in auto_approve.split(",") if e.strip())
    config = _smtp(smtp, mail_from, starttls)
    with open_store(resolve_url(db, os.environ)) as store:
        outcomes = run_channel_check(
            store, inventory, cli_actor("channels"), parse_at(at),
            campaigns_dir=campaigns, smtp=config, auto_approve=envs,
        )  # fmt: skip
    if fmt == "json":
        typer.echo(outcomes_json(outcomes))
    else:
        table = Table("application", "env", "policy", "runs", "newest", "action", "detail")
        for o in outcomes:
            latest = o.check.latest
            table.add_row(
                o.check.app, o.check.env, o.check.policy, o.check.current,
                latest.version if latest else "-", o.action, o.detail,
            )  # fmt: skip
        console = Console(highlight=False, soft_wrap=True)
        console.print(table)
        for o in outcomes:
            for line in o.notes():
                console.print(f"{o.check.app}: {line}")
    if any(o.action in _FAILED for o in outcomes):
        raise typer.Exit(code=1)
