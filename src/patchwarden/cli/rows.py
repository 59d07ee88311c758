"""How commands print rows of data: ``--format`` table, json or csv, checked one way."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.errors import UsageError

__all__ = ["check_format", "print_rows"]


def check_format(fmt: str, allowed: Sequence[str] = ("table", "json")) -> None:
    """Refuse a ``--format`` the command does not print (exit 2, nothing done).

    >>> check_format("xml", ("table", "json", "csv"))
    Traceback (most recent call last):
    ...
    patchwarden.errors.UsageError: --format 'xml': use table, json or csv

    Raises:
        UsageError: ``fmt`` is not one of ``allowed``; the message lists them.
    """
    if fmt not in allowed:
        *first, last = allowed
        choices = f"{', '.join(first)} or {last}" if first else last
        raise UsageError(f"--format {fmt!r}: use {choices}")


def print_rows(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str = "table", title: str = ""
) -> None:
    """Print rows as a table of ``columns``, as JSON (every field) or as CSV (``columns``)."""
    if fmt == "json":
        typer.echo(json.dumps(list(rows), indent=2, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(out.getvalue(), nl=False)
    else:
        table = Table(title=title or None, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(str(row[c]) for c in columns))
        Console().print(table)
