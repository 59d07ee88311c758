"""The current inventory snapshot: one row per asset, replaced as a whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from patchwarden.domain.inventory import Inventory
from patchwarden.store.locks import take_turn
from patchwarden.store.records import InventoryCounts, InventoryRecord
from patchwarden.store.tables import InventoryAsset
from patchwarden.store.values import chunked

__all__ = ["inventory_rows", "replace_inventory"]

# The columns whose change makes a row "updated" (``updated_at`` is the consequence).
_COMPARED = ("kind", "env", "owner", "data", "source")


def _wanted_rows(
    inventory: Inventory, owners: Mapping[str, str], sources: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The rows the snapshot should hold, keyed by asset id; checked before any write."""
    ids = [asset.id for asset in inventory.assets]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise ValueError(f"inventory lists these asset ids more than once: {duplicates}")
    for what, given in (("owner", owners), ("source", sources)):
        missing = sorted(set(ids) - set(given))
        if missing:
            raise ValueError(f"no {what} given for assets {missing}")
    return {
        asset.id: {
            "id": asset.id,
            "kind": asset.kind,
            "env": asset.env,
            "owner": owners[asset.id],
            "data": asset.model_dump(mode="json"),
            "source": sources[asset.id],
        }
        for asset in inventory.assets
    }


def replace_inventory(
    session: Session,
    inventory: Inventory,
    owners: Mapping[str, str],
    sources: Mapping[str, str],
    now: datetime,
) -> InventoryCounts:
    """Make the stored snapshot equal ``inventory``, touching only rows that differ.

    Portable on purpose: read what is there, then plain DELETE, UPDATE and INSERT, rather
    than a dialect's own upsert. The caller's transaction makes it all-or-nothing.

    Raises:
        ValueError: duplicate asset ids, or an asset without an owner or a source.
    """
    wanted = _wanted_rows(inventory, owners, sources)
    take_turn(session, "inventory")  # two replacements never interleave (PostgreSQL)
    columns = [getattr(InventoryAsset, name) for name in ("id", *_COMPARED)]
    existing = {row.id: row._asdict() for row in session.execute(select(*columns))}

    gone = sorted(set(existing) - set(wanted))
    changed = [
        {**row, "updated_at": now}
        for asset_id, row in wanted.items()
        if asset_id in existing and any(existing[asset_id][c] != row[c] for c in _COMPARED)
    ]
    new = [
        {**row, "updated_at": now} for asset_id, row in wanted.items() if asset_id not in existing
    ]

    for chunk in chunked(gone):
        session.execute(delete(InventoryAsset).where(InventoryAsset.id.in_(chunk)))
    for rows in chunked(changed):
        # A list of dicts holding the primary key: SQLAlchemy's bulk UPDATE by primary key.
        session.execute(update(InventoryAsset), rows)
    for rows in chunked(new):
        session.execute(insert(InventoryAsset), rows)
    unchanged = len(wanted) - len(changed) - len(new)
    return InventoryCounts(len(new), len(changed), len(gone), unchanged)


def inventory_rows(session: Session) -> list[InventoryRecord]:
    """Every stored asset, by id."""
    assets = session.scalars(select(InventoryAsset).order_by(InventoryAsset.id))
    return [
        InventoryRecord(a.id, a.kind, a.env, a.owner, a.data, a.source, a.updated_at)
        for a in assets
    ]
