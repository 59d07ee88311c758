"""``patchwarden feeds import|sync``: advisory feeds into the catalog."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from patchwarden.cli.options import SERVER_OPTION
from patchwarden.cli.rows import check_format
from patchwarden.errors import UsageError
from patchwarden.service.feed_uploads import catalog_status
from patchwarden.service.feeds import ImportReport, import_paths, load_sources, sync_feeds
from patchwarden.service.remote import RemoteServer, connect
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


def _print(report: ImportReport | dict[str, Any], fmt: str, console: Console) -> None:
    """Print an import's report (as the service returns it, or as a server answers it)."""
    data = report.as_json() if isinstance(report, ImportReport) else report
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2))
    else:
        table = Table("source", "kind", "records", "skipped")
        for source in data["sources"]:
            kind = "not modified" if source["not_modified"] else source["kind"]
            table.add_row(source["name"], kind, str(source["records"]), str(source["skipped"]))
        console.print(table)
        console.print(
            f"advisories: {data['inserted']} new, {data['updated']} updated, "
            f"{data['unchanged']} unchanged; {len(data['warnings'])} warning(s)"
        )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in data["warnings"]:
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
    server: str | None = SERVER_OPTION,
) -> None:
    """Import feed files in one transaction; bad records are skipped with a warning.

    Re-importing the same files changes nothing (all records reported unchanged). A CSAF
    provider's documents are fetched through its ROLIE feeds with their hashes checked; a
    malformed CSAF document stops the import (exit 2, nothing imported).

    Example: patchwarden feeds import Debian-all.zip known_exploited_vulnerabilities.json
    cisco-sa-20180328-smi2.json https://psirt.example/.well-known/csaf/provider-metadata.json

    With --server, the files are uploaded and imported there (files only: a server fetches
    only the sources an admin gave it).
    """
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            _import_remote(remote, paths, fmt)
        return
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
        None, "--config", help='TOML file whose sources table holds name = "url" lines.'
    ),
    state: Path | None = typer.Option(
        None, "--state", help="Where ETag/Last-Modified are kept (default: user cache dir)."
    ),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    server: str | None = SERVER_OPTION,
) -> None:
    """Fetch feeds from their URLs (only what changed since last time) and import them.

    Without --source or --config, fetches the official OSV all.zip archives (Debian, Ubuntu,
    AlmaLinux, Rocky Linux, Alpine, PyPI), the CISA KEV catalog and FIRST EPSS scores.

    With --server, the server syncs its own sources (--source there is for admins) in the
    background; the command follows it and prints what it imported.

    Example: patchwarden feeds sync --source kev=https://mirror.example/kev.json
    """
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        if config is not None or state is not None:
            remote.close()
            raise UsageError("--config and --state with --server: the server keeps its own")
        with remote:
            _sync_remote(remote, load_sources(None, source or []) if source else {}, fmt)
        return
    sources = load_sources(config, source or [])
    state_file = state or Path(platformdirs.user_cache_dir("patchwarden")) / "feeds-state.json"
    console = Console(stderr=fmt == "json")
    with open_store(resolve_url(db, os.environ)) as store, _Bars(console, fmt == "table") as bars:
        report = sync_feeds(store, sources, state_file, progress=bars)
    _print(report, fmt, console)


@app.command("status")
def status_command(
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    server: str | None = SERVER_OPTION,
) -> None:
    """The catalog: how many advisories, KEV-listed, EPSS-scored, CSAF; its last change.

    Example: patchwarden feeds status --format json
    """
    check_format(fmt)
    remote = connect(server, os.environ)
    if remote is not None:
        with remote:
            data = remote.call("GET", "/feeds")
    else:
        with open_store(resolve_url(db, os.environ)) as store:
            data = catalog_status(store).as_json()
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(
        f"advisories: {data['advisories']} ({data['withdrawn']} withdrawn), "
        f"KEV-listed {data['kev']}, EPSS-scored {data['epss']}, CSAF {data['csaf']}"
    )
    last = data["last_change"]
    if last:
        typer.echo(
            f"last change: {last['at']} by {last['by']}: {last.get('inserted', 0)} new, "
            f"{last.get('updated', 0)} updated"
        )
    else:
        typer.echo("last change: never (import or sync feeds first)")


def _import_remote(remote: RemoteServer, paths: list[str], fmt: str) -> None:
    files = []
    for name in paths:
        path = Path(name)
        if name.startswith(("http://", "https://")) or not path.is_file():
            raise UsageError(
                f"{name}: with --server, give feed files (a server fetches only the sources "
                "an admin gave it)"
            )
        files.append((path.name, path.read_bytes()))
    report = remote.call("POST", "/feeds/import", files=files)
    _print(report, fmt, Console(stderr=fmt == "json"))


def _sync_remote(remote: RemoteServer, sources: dict[str, str], fmt: str) -> None:
    started = remote.call("POST", "/feeds/sync", body={"sources": sources})
    console = Console(stderr=True)
    end: dict[str, Any] = started
    for status in remote.poll(f"/feeds/sync/{started['id']}"):
        end = status
    if end["state"] != "completed":
        console.print(f"sync {end['id']} {end['state']}: {end.get('error') or ''}", markup=False)
        raise typer.Exit(1)
    _print(end["result"], fmt, Console(stderr=fmt == "json"))
