"""What several commands read from their arguments the same way: ``--at``, warnings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import typer

from patchwarden.errors import UsageError

__all__ = ["echo_warnings", "parse_at"]


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
