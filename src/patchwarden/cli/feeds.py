"""``patchwarden feeds import|sync``: advisory feeds into the catalog."""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from patchwarden.cli.rows import check_format
from patchwarden.service.feeds import ImportReport, import_paths, load_sources, sync_feeds
from patchwarden.store import open_store, resolve_url

__all__ = ["app"]

app = typer.Typer(
    help="Import and sync advisory feeds (OSV, CISA KEV, EPSS, CSAF).", no_args_is_help=True
)

_DB_HELP = "Database URL (default: PATCHWARDEN_DB, then a file in the user data dir)."


class _Bars:
    """Rich progress bars fed by the service's ``(what, done, total)`` callback."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<32}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        )
        self._enabled = enabled
        self._task: TaskID | None = None

    def __enter__(self) -> _Bars:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._progress.stop()

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        if self._task is None:
            self._task = self._progress.add_task(what, total=total)
        self._progress.update(self._task, description=what, completed=done, total=total)


def _print(report: ImportReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        table = Table("source", "kind", "records", "skipped")
        for source in report.sources:
            kind = "not modified" if source.not_modified else source.kind
            table.add_row(source.name, kind, str(source.records), str(source.skipped))
        console.print(table)
        console.print(
            f"advisories: {report.inserted} new, {report.updated} updated, "
            f"{report.unchanged} unchanged; {len(report.warnings)} warning(s)"
        )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)


@app.command("import")
def import_command(
    paths: list[str] = typer.Argument(
        ...,
        help="OSV JSON files or directories, all.zip archives, KEV JSON/CSV, EPSS csv(.gz), "
        "CSAF 2.0 documents, or a CSAF provider-metadata.json (file or https:// URL).",
    ),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Import feed files in one transaction; bad records are skipped with a warning.

    Re-importing the same files changes nothing (all records reported unchanged). A CSAF
    provider's documents are fetched through its ROLIE feeds with their hashes checked; a
    malformed CSAF document stops the import (exit 2, nothing imported).

    Example: patchwarden feeds import Debian-all.zip known_exploited_vulnerabilities.json
    cisco-sa-20180328-smi2.json https://psirt.example/.well-known/csaf/provider-metadata.json
    """
    check_format(fmt)
    console = Console(stderr=fmt == "json")
    with open_store(resolve_url(db, os.environ)) as store, _Bars(console, fmt == "table") as bars:
        report = import_paths(store, paths, bars)
    _print(report, fmt, console)


@app.command("sync")
def sync_command(
    source: list[str] = typer.Option(
        None, "--source", help="NAME=URL to fetch instead of the defaults (repeatable)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help='TOML file with a [sources] table of name = "url".'
    ),
    state: Path | None = typer.Option(
        None, "--state", help="Where ETag/Last-Modified are kept (default: user cache dir)."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Fetch feeds from their URLs (only what changed since last time) and import them.

    Without --source or --config, fetches the official OSV all.zip archives (Debian, Ubuntu,
    AlmaLinux, Rocky Linux, Alpine, PyPI), the CISA KEV catalog and FIRST EPSS scores.

    Example: patchwarden feeds sync --source kev=https://mirror.example/kev.json
    """
    check_format(fmt)
    sources = load_sources(config, source or [])
    state_file = state or Path(platformdirs.user_cache_dir("patchwarden")) / "feeds-state.json"
    console = Console(stderr=fmt == "json")
    with open_store(resolve_url(db, os.environ)) as store, _Bars(console, fmt == "table") as bars:
        report = sync_feeds(store, sources, state_file, progress=bars)
    _print(report, fmt, console)
