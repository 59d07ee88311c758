"""The stored inventory as the server offers it: upload (validated), list, show with owner.

An upload goes through the same loader and the same drivers' checks as
``patchwarden inventory validate``: one bad field anywhere refuses the whole upload with
every problem (file, line, field, hint) and leaves the stored inventory as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from patchwarden.domain.assets import Asset
from patchwarden.domain.responsibility import owner_of, responsibility_of
from patchwarden.drivers.registry import REGISTRY
from patchwarden.inventory import parse_inventory
from patchwarden.service.audit import Actor, record
from patchwarden.store import InventoryCounts, InventoryRecord, Store

__all__ = ["AssetView", "asset_view", "list_assets", "upload_inventory"]


def upload_inventory(
    store: Store, files: Sequence[tuple[str, str]], actor: Actor
) -> InventoryCounts:
    """Validate inventory texts (``(file name, text)``) and make them the stored inventory.

    Raises:
        ValidationFailed: any problem in any file; nothing is stored.
    """
    loaded = parse_inventory(files, drivers=REGISTRY)
    inventory = loaded.inventory
    counts = store.replace_inventory(
        inventory,
        {a.id: owner_of(a).value for a in inventory.assets},
        {a.id: loaded.source_of(a.id) for a in inventory.assets},
    )
    record(
        store, actor, "inventory.replace", "inventory", "current",
        details={"files": [name for name, _ in files], **counts._asdict()},
    )  # fmt: skip
    return counts


@dataclass(frozen=True)
class AssetView:
    """One asset as the API shows it: who patches it and why, where it was defined, its data.

    ``service_model``, ``why``, ``criticality`` and ``internet_facing`` are the columns of
    ``patchwarden inventory show``, so the command prints the same rows against a server.
    """

    id: str
    kind: str
    env: str
    owner: str
    source: str
    service_model: str
    why: str
    criticality: str
    internet_facing: bool
    data: dict[str, Any]


_ASSET: TypeAdapter[Asset] = TypeAdapter(Asset)


def asset_view(row: InventoryRecord) -> AssetView:
    """The API's view of a stored asset (its data was validated when it was stored)."""
    asset = _ASSET.validate_python(row.data)
    resp = responsibility_of(asset)
    return AssetView(
        row.id, row.kind, row.env, row.owner, row.source, resp.service_model.value,
        resp.reason, asset.criticality.value, asset.internet_facing, row.data,
    )  # fmt: skip


def list_assets(
    store: Store,
    *,
    environments: Sequence[str] = (),
    env: str | None = None,
    kind: str | None = None,
) -> list[AssetView]:
    """Stored assets by id, within ``environments`` (empty: all), optionally one env or kind."""
    return [
        asset_view(row)
        for row in store.inventory()
        if (not environments or row.env in environments)
        and (env is None or row.env == env)
        and (kind is None or row.kind == kind)
    ]
