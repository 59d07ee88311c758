"""Which inventory and advisories a command works on: one rule, in one place.

``assess``, ``baseline``, ``plan``, ``change submit``, ``promote``, ``apply`` and ``resume``
all choose their inputs here, so the same files and the same store give them the same
estate, the same findings and therefore the same plan.

The rule:

- **Inventory.** ``--demo`` chooses the built-in demo estate. Otherwise the inventory files
  given (or their texts, uploaded to the server); else the inventory stored by an earlier
  ``assess``; else the demo estate, except for commands that need an estate of the user's
  own (``assess``, ``baseline``), which refuse with a hint instead.
- **Scans.** What hosts reported in stored scans replaces what the inventory declares,
  except on the demo estate (its hosts are simulated and never scanned).
- **Advisories.** The advisory files given; else the catalog imported into the store; else,
  on the demo estate only, the demo's own advisories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from patchwarden.domain.advisories import Advisory
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.registry import REGISTRY
from patchwarden.errors import UsageError
from patchwarden.inventory import LoadedInventory, parse_inventory
from patchwarden.service.assessments import stored_inventory
from patchwarden.service.feeds import stored_advisories
from patchwarden.service.scan import latest_scans, scanned_inventory
from patchwarden.service.sources import (
    demo_advisories,
    demo_inventory,
    read_inventory,
    read_osv_records,
)
from patchwarden.store import Store

__all__ = ["EstateInputs", "Origin", "choose_inventory", "estate_inputs"]


class Origin(StrEnum):
    """Where the inventory came from."""

    FILES = "files"
    STORED = "stored"
    DEMO = "demo"


@dataclass(frozen=True)
class ChosenInventory:
    """An inventory, where it came from, and (for files and the demo) where each asset is."""

    inventory: Inventory
    origin: Origin
    loaded: LoadedInventory | None = None


@dataclass(frozen=True)
class EstateInputs:
    """The inventory and advisories a command works on (see the module's rule)."""

    inventory: Inventory
    advisories: list[Advisory]
    origin: Origin
    loaded: LoadedInventory | None = None
    """The inventory as read from files (or the demo's), with where each asset is defined."""
    warnings: tuple[str, ...] = field(default=())
    """Advisory files' records that were skipped, and why."""


def choose_inventory(
    store: Store,
    files: Sequence[Path | str] = (),
    *,
    demo: bool = False,
    own_estate: bool = False,
    texts: Sequence[tuple[str, str]] = (),
) -> ChosenInventory:
    """The inventory by the module's rule, with stored scans applied.

    Args:
        store: Where the stored inventory and scans are.
        files: Inventory files given on the command line.
        demo: ``--demo``: the built-in demo estate.
        own_estate: The command needs an estate of the user's own: no demo fallback.
        texts: Inventory files as ``(name, text)``, uploaded rather than read; as files.

    Raises:
        UsageError: ``own_estate`` and neither files nor a stored inventory.
        ValidationFailed: bad inventory files.
    """
    if demo:
        loaded = demo_inventory()
        return ChosenInventory(loaded.inventory, Origin.DEMO, loaded)
    if files or texts:
        loaded = (
            read_inventory([Path(f) for f in files])
            if files
            else parse_inventory(texts, drivers=REGISTRY)
        )
        chosen = ChosenInventory(loaded.inventory, Origin.FILES, loaded)
    else:
        stored = stored_inventory(store)
        if stored is None:
            if own_estate:
                raise UsageError(
                    "no inventory: pass --inventory FILE, import one first, or use --demo"
                )
            loaded = demo_inventory()
            return ChosenInventory(loaded.inventory, Origin.DEMO, loaded)
        chosen = ChosenInventory(stored, Origin.STORED)
    # What hosts reported beats what the inventory declares, where a scan exists.
    scanned, _ = scanned_inventory(chosen.inventory, latest_scans(store))
    return ChosenInventory(scanned, chosen.origin, chosen.loaded)


def estate_inputs(
    store: Store,
    inventory_files: Sequence[Path | str] = (),
    advisory_files: Sequence[Path] = (),
    *,
    demo: bool = False,
    own_estate: bool = False,
    inventory_texts: Sequence[tuple[str, str]] = (),
) -> EstateInputs:
    """The inventory and advisories to work on, by the module's rule.

    Raises:
        UsageError: ``own_estate`` and no inventory of the user's own.
        ValidationFailed: bad inventory files.
    """
    chosen = choose_inventory(
        store, inventory_files, demo=demo, own_estate=own_estate, texts=inventory_texts
    )
    warnings: list[str] = []
    if advisory_files:
        advisories, warnings = read_osv_records(
            (str(p), Path(p).read_text(encoding="utf-8")) for p in advisory_files
        )
    else:
        advisories = stored_advisories(store, warnings)
        if not advisories and chosen.origin is Origin.DEMO:
            advisories = demo_advisories()
    return EstateInputs(chosen.inventory, advisories, chosen.origin, chosen.loaded, tuple(warnings))
