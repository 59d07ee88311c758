"""``patchwarden advisories affected``: check one answer of the catalog by hand."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from patchwarden.service.catalog import affected_advisories
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(help="Query the imported advisories.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Query the imported advisories."""  # keeps "affected" a sub-command, not the app itself


@app.command("affected")
def affected(
    ecosystem: str = typer.Argument(
        ..., help="As OSV writes it, release included: Debian:12, Ubuntu:22.04:LTS, PyPI."
    ),
    package: str = typer.Argument(..., help="Package name (source package for distributions)."),
    version: str = typer.Argument(..., help="The installed version."),
    db: str | None = typer.Option(
        None, "--db", help="Database URL (default: PATCHWARDEN_DB, then the user data dir)."
    ),
) -> None:
    """Print the ids of imported advisories affecting this version, one per line.

    Prints nothing when none does. Ecosystems without a version ordering in patchwarden
    (Maven, RubyGems, ...) are answered from the advisories' explicit versions lists only.

    Example: patchwarden advisories affected Ubuntu:16.04:LTS netqmail 1.06-5
    """
    err = Console(stderr=True, highlight=False)
    with open_store(resolve_url(db, os.environ)) as store:
        answer = affected_advisories(store, ecosystem, package, version)
    for warning in answer.warnings:
        err.print(f"warning: {warning}", markup=False)
    if not answer.ordered:
        err.print(
            f"note: no version ordering for {ecosystem}; only explicit versions lists are used",
            markup=False,
        )
    for advisory_id in answer.ids:
        typer.echo(advisory_id)
