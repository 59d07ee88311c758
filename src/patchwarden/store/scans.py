"""Scans of assets: appended, never rewritten; read back as the newest per asset and source.

Example:
    >>> sorted(SOURCES)
    ['local', 'sbom', 'ssh']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from patchwarden.store.tables import Scan, as_utc
from patchwarden.store.values import as_json

__all__ = [
    "SOURCES",
    "ScanInput",
    "ScanRecord",
    "iter_latest_scans",
    "latest_scans",
    "record_scans",
]

SOURCES = frozenset({"ssh", "local", "sbom"})
"""Where scanned data comes from."""


class ScanInput(NamedTuple):
    """One scan to store."""

    asset_id: str
    source: str
    scanned_at: datetime
    ok: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class ScanRecord:
    """One stored scan."""

    id: int
    asset_id: str
    source: str
    scanned_at: datetime
    ok: bool
    data: dict[str, Any]


def _row(scan: ScanInput, index: int) -> dict[str, Any]:
    if scan.source not in SOURCES:
        raise ValueError(
            f"scan {index}: source must be one of {sorted(SOURCES)}, not {scan.source!r}"
        )
    if not scan.asset_id or len(scan.asset_id) > 64:
        raise ValueError(f"scan {index}: asset id {scan.asset_id!r} is empty or too long")
    return {
        "asset_id": scan.asset_id,
        "source": scan.source,
        "scanned_at": as_utc(scan.scanned_at),
        "ok": bool(scan.ok),
        "data": as_json(scan.data, f"scan {index}"),
    }


def record_scans(session: Session, scans: Sequence[ScanInput]) -> list[int]:
    """Append scans; returns their ids in the given order.

    Raises:
        ValueError: an unknown source, a bad asset id, a naive time or data that is not
            JSON; nothing is stored.
    """
    rows = [_row(scan, index) for index, scan in enumerate(scans)]
    if not rows:
        return []
    return list(session.scalars(insert(Scan).returning(Scan.id), rows))


def latest_scans(
    session: Session, asset_ids: Iterable[str] | None = None, *, ok_only: bool = True
) -> list[ScanRecord]:
    """The newest scan per (asset, source), successful ones only unless ``ok_only`` is off.

    Ordered by asset, then source. Ties of ``scanned_at`` go to the later insert.
    """
    return list(iter_latest_scans(session, asset_ids, ok_only=ok_only))


def iter_latest_scans(
    session: Session, asset_ids: Iterable[str] | None = None, *, ok_only: bool = True
) -> Iterator[ScanRecord]:
    """:func:`latest_scans` one at a time, read as they are used (a fleet's are large)."""
    rank = (
        func.row_number()
        .over(
            partition_by=(Scan.asset_id, Scan.source),
            order_by=(Scan.scanned_at.desc(), Scan.id.desc()),
        )
        .label("rank")
    )
    inner = select(Scan.id, rank)
    if ok_only:
        inner = inner.where(Scan.ok.is_(True))
    if asset_ids is not None:
        inner = inner.where(Scan.asset_id.in_(list(asset_ids)))
    newest = inner.subquery()
    # Columns rather than ORM objects: a fleet's scans are large and only read here.
    query = (
        select(Scan.id, Scan.asset_id, Scan.source, Scan.scanned_at, Scan.ok, Scan.data)
        .join(newest, newest.c.id == Scan.id)
        .where(newest.c.rank == 1)
        .order_by(Scan.asset_id, Scan.source)
    )
    for row in session.execute(query, execution_options={"yield_per": 100}):
        yield ScanRecord(*row)
