"""Feed files uploaded to the server, and the catalog's state as the server reports it.

An upload is imported as ``patchwarden feeds import`` imports files: any kind (OSV JSON or
``all.zip``, CISA KEV JSON or CSV, FIRST EPSS ``csv``/``csv.gz``, CSAF 2.0 documents), read
whole first and written in one transaction; bad records are skipped with a warning, a file
that is no feed at all or a malformed CSAF document refuses the whole upload.

One difference, on purpose: a CSAF ``provider-metadata.json`` or ROLIE feed is refused in an
upload. Importing one means fetching every URL it lists, and an upload would let anyone
with the operator role make the server fetch addresses of their choosing; an admin names
such sources for ``feeds sync`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from patchwarden.errors import InputError
from patchwarden.service.audit import Actor, AuditFilter
from patchwarden.service.feeds import FeedImport, ImportReport, import_feeds
from patchwarden.store import Store

__all__ = ["CatalogStatus", "catalog_status", "import_uploads"]


def _refuse_fetch(url: str, **_: Any) -> NoReturn:
    raise InputError(
        f"an uploaded CSAF provider or ROLIE feed would make the server fetch {url}; upload "
        "its documents, or ask an admin to add the provider to `feeds sync`'s sources"
    )


def import_uploads(store: Store, files: Sequence[tuple[str, bytes]], actor: Actor) -> ImportReport:
    """Import uploaded feed files (``(name, content)``) in one transaction, audited as ``actor``.

    Raises:
        InputError: a file is no known feed, its whole content is unreadable, a CSAF
            document is malformed, or a file would need fetching (nothing is imported).
    """
    fetcher: Any = _refuse_fetch  # a Fetcher that never returns
    feed = FeedImport(fetcher=fetcher)
    for name, data in files:
        feed.add(name, data)
    return import_feeds(store, feed, actor=actor)


@dataclass(frozen=True)
class CatalogStatus:
    """How much the catalog holds, and when it last changed."""

    advisories: int
    withdrawn: int
    kev: int
    epss: int
    csaf: int
    newest_modified: datetime | None
    last_imported_at: datetime | None
    last_change: dict[str, Any] | None
    """The latest ``feeds.import`` audit entry: who, when, what it changed."""

    def as_json(self) -> dict[str, Any]:
        """As the API answers it."""
        return {
            "advisories": self.advisories,
            "withdrawn": self.withdrawn,
            "kev": self.kev,
            "epss": self.epss,
            "csaf": self.csaf,
            "newest_modified": self.newest_modified.isoformat() if self.newest_modified else None,
            "last_imported_at": (
                self.last_imported_at.isoformat() if self.last_imported_at else None
            ),
            "last_change": self.last_change,
        }


def catalog_status(store: Store) -> CatalogStatus:
    """Counts over the stored advisories, and the catalog's last audited change."""
    rows = store.advisories()
    entries = store.audit.entries(AuditFilter(action="feeds.import"))
    last = entries[-1] if entries else None
    return CatalogStatus(
        advisories=len(rows),
        withdrawn=sum(r.withdrawn is not None for r in rows),
        kev=sum(bool(r.data.get("kev")) for r in rows),
        epss=sum(r.data.get("epss") is not None for r in rows),
        csaf=sum("csaf" in r.data.get("database_specific", {}) for r in rows),
        newest_modified=max((r.modified for r in rows), default=None),
        last_imported_at=max((r.imported_at for r in rows), default=None),
        last_change=(
            {"by": last.actor, "at": last.at.isoformat(), **last.details} if last else None
        ),
    )
