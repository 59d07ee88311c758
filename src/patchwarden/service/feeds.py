"""Importing advisory feeds into the store: from files, or synced from source URLs.

An import reads every input first (OSV JSON files, directories, ``all.zip`` archives, the
CISA KEV catalog, FIRST EPSS scores, CSAF 2.0 documents and CSAF providers'
``provider-metadata.json`` or ROLIE feeds; the kind is read from the content), then writes all
advisories in **one** store transaction: a crash part-way leaves the previous catalog whole.
A malformed record is skipped with a warning naming its file, id and reason; the rest is
imported. Re-importing the same feed rewrites nothing: the store compares each record and
counts it unchanged.

KEV and EPSS are stored on the advisories they concern (``kev``, ``kev_due``, ``epss``,
``epss_percentile``): importing them marks every stored advisory whose id, alias or upstream
id they list, and a later OSV import keeps the marks a record already had. Sync fetches
OSV before KEV and EPSS, so one sync leaves everything marked.

CSAF documents are stricter than OSV records: a malformed one stops the whole import
(:class:`~patchwarden.feeds.csaf.InvalidCsaf` names the file and JSON path), since a vendor
advisory half-read would hide an appliance's exposure. A document's newer revision
replaces the stored one; an older revision is ignored with a warning.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from patchwarden.domain.advisories import Advisory
from patchwarden.drivers.fetch import FetchResult, fetch
from patchwarden.errors import InputError, UsageError
from patchwarden.feeds.archive import iter_json_records, iter_osv_zip
from patchwarden.feeds.detect import FeedKind, detect_kind
from patchwarden.feeds.epss import mark_epss, parse_epss
from patchwarden.feeds.kev import mark_kev, parse_kev_catalog, parse_kev_csv
from patchwarden.feeds.osv import InvalidRecord, parse_osv
from patchwarden.service.audit import Actor, local_actor
from patchwarden.service.audit import record as append_audit
from patchwarden.service.csaf import (
    Fetcher,
    is_older_revision,
    read_document,
    read_provider,
    read_rolie,
)
from patchwarden.store import AdvisoryInput, Store

__all__ = [
    "DEFAULT_SOURCES",
    "FeedImport",
    "ImportReport",
    "SourceReport",
    "advisory_record",
    "import_feeds",
    "import_paths",
    "load_sources",
    "stored_advisories",
    "sync_feeds",
]

_OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_SOURCES: dict[str, str] = {
    "osv-debian": f"{_OSV_BUCKET}/Debian/all.zip",
    "osv-ubuntu": f"{_OSV_BUCKET}/Ubuntu/all.zip",
    "osv-almalinux": f"{_OSV_BUCKET}/AlmaLinux/all.zip",
    "osv-rocky": f"{_OSV_BUCKET}/Rocky%20Linux/all.zip",
    "osv-alpine": f"{_OSV_BUCKET}/Alpine/all.zip",
    "osv-pypi": f"{_OSV_BUCKET}/PyPI/all.zip",
    "kev": "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
    "epss": "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
}
"""The official feeds ``patchwarden feeds sync`` fetches when given no sources."""

Progress = Callable[[str, int, int | None], None]
"""``(what is happening, done, total or None)``; the CLI draws it as a progress bar."""


@dataclass
class SourceReport:
    """What one input (file or URL) contributed."""

    name: str
    kind: str
    records: int = 0
    skipped: int = 0
    not_modified: bool = False


@dataclass
class ImportReport:
    """The outcome of one import: per input, the store's counts, and every warning."""

    sources: list[SourceReport] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "sources": [vars(s) for s in self.sources],
            "warnings": list(self.warnings),
        }


@dataclass
class FeedImport:
    """Everything read from the inputs, ready to be written in one go."""

    advisories: dict[str, Advisory] = field(default_factory=dict)
    kev: dict[str, date | None] | None = None
    epss: dict[str, tuple[float, float]] | None = None
    report: ImportReport = field(default_factory=ImportReport)
    fetcher: Fetcher = fetch
    """How a CSAF provider's feeds and documents are fetched."""

    def add(self, name: str, data: bytes, label: str = "") -> None:
        """Parse one input's bytes, whatever feed it is; problems become warnings.

        Args:
            name: The file or source name, used in warnings.
            data: The content.
            label: Report under this name instead (e.g. the directory the file is in).

        Raises:
            InputError: the input is no known feed at all (the message names it).
        """
        kind = detect_kind(name, data)
        source = self._source(label or name, kind.value)
        warnings: list[str] = []
        if kind is FeedKind.OSV_ZIP:
            for member, raw in iter_osv_zip(data):
                self._add_osv(f"{name}:{member}", raw, source)
        elif kind is FeedKind.OSV_JSON:
            self._add_osv(name, data, source)
        elif kind.feed == "csaf":
            self._add_csaf(kind, name, data, source, warnings)
        elif kind is FeedKind.EPSS_CSV:
            scores = parse_epss(data, warnings).scores
            self.epss = {**(self.epss or {}), **scores}
            source.records = len(scores)
        else:
            try:
                text = data.decode("utf-8-sig")
                catalog = (
                    parse_kev_catalog(json.loads(text), warnings)
                    if kind is FeedKind.KEV_JSON
                    else parse_kev_csv(text, warnings)
                )
            except ValueError as error:  # not UTF-8, or not JSON
                raise InvalidRecord(f"{name}: unreadable KEV catalog ({error})") from None
            self.kev = {**(self.kev or {}), **catalog.due_dates}
            source.records = len(catalog.entries)
        source.skipped += len(warnings)
        self.report.warnings.extend(f"{name}: {w}" for w in warnings)

    def _source(self, name: str, kind: str) -> SourceReport:
        for source in self.report.sources:
            if (source.name, source.kind) == (name, kind):
                return source
        source = SourceReport(name, kind)
        self.report.sources.append(source)
        return source

    def _add_csaf(
        self, kind: FeedKind, name: str, data: bytes, source: SourceReport, warnings: list[str]
    ) -> None:
        if kind is FeedKind.CSAF_JSON:
            found = [read_document(name, data, warnings)]
        elif kind is FeedKind.CSAF_PROVIDER:
            found = read_provider(name, data, warnings, self.fetcher)
        else:
            found = read_rolie(name, data, warnings, self.fetcher)
        for advisory in found:
            old = self.advisories.get(advisory.id)
            if old is not None and is_older_revision(advisory, old):
                continue  # two revisions in one import: the newer stays
            self.advisories[advisory.id] = advisory
        source.records += len(found)

    def _add_osv(self, name: str, data: bytes, source: SourceReport) -> None:
        try:
            records = list(iter_json_records(name, data))
        except InvalidRecord as error:
            source.skipped += 1
            self.report.warnings.append(f"skipped {error}")
            return
        for raw in records:
            try:
                advisory = parse_osv(raw)
            except InvalidRecord as error:
                source.skipped += 1
                self.report.warnings.append(f"{name}: skipped {error}")
                continue
            self.advisories[advisory.id] = advisory
            source.records += 1


def advisory_record(advisory: Advisory) -> AdvisoryInput:
    """The ``(id, modified, withdrawn, data)`` the store keeps for an advisory."""
    data = advisory.model_dump(mode="json", exclude_defaults=True)
    return advisory.id, advisory.modified, advisory.withdrawn, data


def stored_advisories(store: Store, warnings: list[str] | None = None) -> list[Advisory]:
    """Every advisory in the store as a domain value; unreadable rows become warnings."""
    out = []
    for row in store.advisories():
        try:
            out.append(Advisory.model_validate(row.data))
        except ValidationError as error:
            if warnings is not None:
                warnings.append(f"stored advisory {row.id}: unreadable, ignored ({error})")
    return out


def import_feeds(
    store: Store,
    feed: FeedImport,
    progress: Progress | None = None,
    *,
    actor: Actor | None = None,
) -> ImportReport:
    """Write what ``feed`` holds in one transaction and fill in the report's counts.

    A change to the catalog (anything inserted or updated) is audited as ``actor`` (the
    local user when not given).
    """
    existing = {a.id: a for a in stored_advisories(store, feed.report.warnings)}
    records = list(_merged(feed, existing))
    if progress is not None:
        progress("storing advisories", 0, len(records))
    counts = store.upsert_advisories(advisory_record(a) for a in records)
    if progress is not None:
        progress("storing advisories", len(records), len(records))
    feed.report.inserted, feed.report.updated, feed.report.unchanged = counts
    if counts.inserted or counts.updated:
        append_audit(
            store, actor or local_actor(), "feeds.import", "catalog", "advisories",
            details={"inserted": counts.inserted, "updated": counts.updated},
        )  # fmt: skip
    return feed.report


def _merged(feed: FeedImport, existing: Mapping[str, Advisory]) -> Iterator[Advisory]:
    """The imported advisories plus stored ones whose KEV or EPSS marks change."""
    for advisory in feed.advisories.values():
        old = existing.get(advisory.id)
        if old is not None and is_older_revision(advisory, old):
            feed.report.warnings.append(
                f"{advisory.id}: revision {_revision(advisory)} is older than the stored "
                f"{_revision(old)}; kept the stored one"
            )
            continue
        if old is not None:  # keep the marks until a KEV or EPSS import says otherwise
            advisory = advisory.model_copy(
                update={
                    "kev": old.kev,
                    "kev_due": old.kev_due,
                    "epss": old.epss,
                    "epss_percentile": old.epss_percentile,
                }
            )
        yield _marked(feed, advisory)
    for ident, advisory in existing.items():
        if ident not in feed.advisories:
            marked = _marked(feed, advisory)
            if marked is not advisory:
                yield marked


def _revision(advisory: Advisory) -> str:
    return str(advisory.database_specific.get("csaf", {}).get("revision", ""))


def _marked(feed: FeedImport, advisory: Advisory) -> Advisory:
    if feed.kev is not None:
        advisory = mark_kev(advisory, feed.kev)
    if feed.epss is not None:
        advisory = mark_epss(advisory, feed.epss)
    return advisory


# In a directory, only files that can be feeds are read (not READMEs, SOURCES.tsv, ...).
_FEED_SUFFIXES = {".json", ".zip", ".csv", ".gz"}


def _expand(paths: Sequence[Path]) -> Iterator[tuple[Path, Path | None]]:
    """``(file, the directory given that holds it, or None if named itself)``."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix.lower() in _FEED_SUFFIXES:
                    yield found, path
        elif path.is_file():
            yield path, None
        else:
            raise UsageError(f"{path}: no such file or directory")


def import_paths(
    store: Store,
    paths: Sequence[Path | str],
    progress: Progress | None = None,
    *,
    fetcher: Fetcher = fetch,
) -> ImportReport:
    """Import files, directories (recursively) and URLs of any feed kind, in one transaction.

    A ``str`` starting with ``http://`` or ``https://`` is fetched (e.g. a CSAF provider's
    ``provider-metadata.json``, whose feeds and documents are fetched in turn); any other
    entry is a path.

    Raises:
        UsageError: a path does not exist (nothing is imported).
        InputError: a file is no known feed, or its whole content is unreadable; a CSAF
            document is malformed or its hash differs (nothing is imported).
        DriverError: a URL could not be fetched (nothing is imported).
    """
    urls = [p for p in paths if isinstance(p, str) and p.startswith(("http://", "https://"))]
    files = list(_expand([Path(p) for p in paths if p not in urls]))
    feed = FeedImport(fetcher=fetcher)
    total = len(files) + len(urls)
    for done, url in enumerate(urls):
        if progress is not None:
            progress(f"fetching {url}", done, total)
        feed.add(url, fetcher(url).body)
    for done, (path, folder) in enumerate(files, start=len(urls)):
        if progress is not None:
            progress(f"reading {path.name}", done, total)
        try:
            feed.add(str(path), path.read_bytes(), label=str(folder or ""))
        except OSError as error:
            raise UsageError(f"{path}: cannot read ({error.strerror or error})") from error
        except InvalidRecord as error:
            if folder is None:
                raise  # a file named on the command line must be a feed
            feed.report.warnings.append(f"skipped {error}")
    if progress is not None:
        progress("read", total, total)
    return import_feeds(store, feed, progress)


# -- sync --------------------------------------------------------------------------------


def load_sources(config: Path | None, overrides: Iterable[str]) -> dict[str, str]:
    """The sources to sync: ``--source NAME=URL`` if any, else the config file, else defaults.

    The config file is TOML with a ``[sources]`` table of ``name = "url"``.

    Raises:
        UsageError: a malformed ``NAME=URL`` or config file.
    """
    given: dict[str, str] = {}
    for text in overrides:
        name, sep, url = text.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise UsageError(f"--source {text!r}: write NAME=URL, e.g. kev=https://host/kev.json")
        given[name.strip()] = url.strip()
    if given:
        return given
    if config is None:
        return dict(DEFAULT_SOURCES)
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8")).get("sources")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{config}: cannot read the feed config: {error}") from error
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError(f'{config}: sources: expected a [sources] table of name = "url"')
    return dict(table)


def _feed_order(item: tuple[str, str]) -> int:
    # OSV first, so the KEV and EPSS of the same sync mark advisories it brings.
    name, url = item
    text = f"{name} {url}".lower()
    return 2 if "epss" in text else 1 if "kev" in text or "known_exploited" in text else 0


def sync_feeds(
    store: Store,
    sources: Mapping[str, str],
    state_file: Path,
    *,
    fetcher: Callable[..., FetchResult] = fetch,
    progress: Progress | None = None,
    actor: Actor | None = None,
) -> ImportReport:
    """Fetch every source (conditionally) and import what changed, in one transaction.

    ``state_file`` keeps each source's ``ETag``/``Last-Modified``; it is written only after
    the import committed, so a failed sync is retried in full next time. A change to the
    catalog is audited as ``actor`` (the local user when not given).

    Raises:
        DriverError: a source could not be fetched (nothing is imported).
        InputError: a source's content is no known feed.
    """
    state = _read_state(state_file)
    feed = FeedImport()
    fresh: dict[str, dict[str, str]] = {}
    for name, url in sorted(sources.items(), key=_feed_order):
        seen = state.get(name, {}) if state.get(name, {}).get("url") == url else {}

        def bytes_progress(done: int, total: int | None, name: str = name) -> None:
            if progress is not None:
                progress(f"fetching {name}", done, total)

        result = fetcher(
            url,
            etag=seen.get("etag", ""),
            last_modified=seen.get("last_modified", ""),
            on_progress=bytes_progress,
        )
        if result.not_modified:
            feed.report.sources.append(SourceReport(name, "", not_modified=True))
            continue
        try:
            feed.add(name, result.body)
        except InputError as error:
            raise InputError(f"source {name} ({url}): {error}") from error
        fresh[name] = {"url": url, "etag": result.etag, "last_modified": result.last_modified}
    report = import_feeds(store, feed, progress, actor=actor)
    state.update(fresh)
    _write_state(state_file, state)
    return report


def _read_state(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no state (or a damaged one) only costs a full download
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    temporary.replace(path)  # atomic: a crash leaves the old state or the new, never half
