"""What several commands read from their arguments the same way: ``--at``, warnings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime

import typer

from patchwarden.errors import UsageError

__all__ = ["SERVER_OPTION", "echo_warnings", "login_name", "parse_at"]

SERVER_OPTION = typer.Option(
    None,
    "--server",
    help="Send this to a patchwarden server (default: PATCHWARDEN_SERVER) as the user of the "
    "token in PATCHWARDEN_TOKEN, instead of working on the local database.",
)
"""``--server URL``: the command calls the server's API (see ``service.remote``)."""


def login_name() -> str:
    """The operating system login running this command (by user id, not ``$USER``)."""
    import pwd  # noqa: PLC0415 - POSIX only, and only approvals need it

    return pwd.getpwuid(os.getuid()).pw_name


def parse_at(text: str | None) -> datetime:
    """``--at`` as an aware instant: ISO 8601, UTC when no offset is given; default now.

    Raises:
        UsageError: the text is not a date and time.
    """
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise UsageError(
            f"--at {text!r} is not a time; write e.g. 2026-11-24T22:00Z or 2026-11-24 22:00+01:00"
        ) from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def echo_warnings(warnings: Iterable[str]) -> None:
    """Print each warning on standard error, one line each."""
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
