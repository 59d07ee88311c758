"""Advisories imported from feeds: upserted in bulk, rewritten only when they changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from patchwarden.store.locks import take_turn
from patchwarden.store.records import AdvisoryRecord, UpsertCounts
from patchwarden.store.tables import Advisory, as_utc
from patchwarden.store.values import as_json, chunked

__all__ = ["AdvisoryInput", "all_advisories", "get_advisory", "upsert_advisories"]

AdvisoryInput = tuple[str, datetime, datetime | None, Mapping[str, Any]]
"""``(id, modified, withdrawn, data)`` as a feed importer hands it over."""


def _normalise(record: AdvisoryInput) -> dict[str, Any]:
    advisory_id, modified, withdrawn, data = record
    return {
        "id": advisory_id,
        "modified": as_utc(modified),
        "withdrawn": None if withdrawn is None else as_utc(withdrawn),
        "data": as_json(data, f"advisory {advisory_id}"),
    }


def upsert_advisories(
    session: Session, records: Iterable[AdvisoryInput], now: datetime
) -> UpsertCounts:
    """Insert new advisories and rewrite changed ones, in batches, in the caller's transaction.

    An advisory counts as changed when its ``modified``, ``withdrawn`` or ``data`` differ;
    unchanged rows are not written at all (a feed re-import is mostly unchanged rows).
    Counts are of distinct ids: if an id repeats within a batch, its last record wins.

    Raises:
        ValueError: a naive timestamp, or data that is not JSON.
    """
    take_turn(session, "advisories")  # two imports never interleave (PostgreSQL)
    inserted = updated = unchanged = 0
    compared = ("modified", "withdrawn", "data")
    for chunk in chunked(records):
        latest = {row["id"]: row for row in map(_normalise, chunk)}
        query = select(Advisory.id, Advisory.modified, Advisory.withdrawn, Advisory.data)
        existing = {
            row.id: row._asdict()
            for row in session.execute(query.where(Advisory.id.in_(list(latest))))
        }
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for advisory_id, row in latest.items():
            old = existing.get(advisory_id)
            if old is None:
                new.append({**row, "imported_at": now})
            elif any(old[c] != row[c] for c in compared):
                changed.append({**row, "imported_at": now})
            else:
                unchanged += 1
        if changed:
            session.execute(update(Advisory), changed)  # bulk UPDATE by primary key
        if new:
            session.execute(insert(Advisory), new)
        inserted += len(new)
        updated += len(changed)
    return UpsertCounts(inserted, updated, unchanged)


def _record(advisory: Advisory) -> AdvisoryRecord:
    return AdvisoryRecord(
        advisory.id, advisory.modified, advisory.withdrawn, advisory.data, advisory.imported_at
    )


def get_advisory(session: Session, advisory_id: str) -> AdvisoryRecord | None:
    """The advisory with this id, or ``None``."""
    advisory = session.get(Advisory, advisory_id)
    return None if advisory is None else _record(advisory)


def all_advisories(session: Session) -> list[AdvisoryRecord]:
    """Every stored advisory, by id."""
    # Columns rather than ORM objects: tens of thousands of rows are only read here.
    query = select(
        Advisory.id, Advisory.modified, Advisory.withdrawn, Advisory.data, Advisory.imported_at
    ).order_by(Advisory.id)
    return [AdvisoryRecord(*row) for row in session.execute(query)]
