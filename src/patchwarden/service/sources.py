"""Reading advisory files and built-in data into domain values (I/O lives here, not in feeds)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from patchwarden.domain.advisories import Advisory
from patchwarden.domain.campaign import Campaign
from patchwarden.drivers.registry import REGISTRY
from patchwarden.errors import InputError
from patchwarden.feeds.kev import apply_kev, parse_kev
from patchwarden.feeds.osv import InvalidRecord, parse_osv
from patchwarden.inventory import LoadedInventory, parse_inventory
from patchwarden.inventory import read_inventory as _read_inventory_files
from patchwarden.service.campaigns import load_campaign

__all__ = [
    "LoadedInventory",
    "demo_advisories",
    "demo_campaign",
    "demo_inventory",
    "parse_campaign",
    "read_inventory",
    "read_osv_records",
]

_DATA = resources.files("patchwarden.drivers.sim") / "data"


def read_inventory(paths: Sequence[Path | str]) -> LoadedInventory:
    """Inventory files, validated with each asset's driver and driver configuration.

    The registered drivers (entry points) check ``driver`` / ``driver_config``, so an
    unknown driver or a bad setting is refused with file, line and field, like any field.
    """
    return _read_inventory_files(list(paths), drivers=REGISTRY)


def demo_inventory() -> LoadedInventory:
    """The built-in demo estate, through the same loader as any inventory file."""
    text = (_DATA / "demo-inventory.yaml").read_text(encoding="utf-8")
    return parse_inventory([("demo-inventory.yaml", text)], drivers=REGISTRY)


def read_osv_records(texts: Iterable[tuple[str, str]]) -> tuple[list[Advisory], list[str]]:
    """Parse OSV JSON texts (one record or a list per text); bad records become warnings."""
    advisories: list[Advisory] = []
    warnings: list[str] = []
    for name, text in texts:
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            warnings.append(f"{name}: skipped, not JSON ({error.msg} at line {error.lineno})")
            continue
        for record in data if isinstance(data, list) else [data]:
            try:
                advisories.append(parse_osv(record))
            except InvalidRecord as error:
                warnings.append(f"{name}: skipped, {error}")
    return advisories, warnings


def demo_advisories() -> list[Advisory]:
    """The demo's OSV records, marked with the demo KEV catalog."""
    folder = _DATA / "advisories"
    texts = sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )
    advisories, warnings = read_osv_records(texts)
    if warnings:  # shipped data must be clean; a warning here is a packaging bug
        raise InputError("; ".join(warnings))
    kev = parse_kev(json.loads((_DATA / "kev-demo.json").read_text(encoding="utf-8")))
    return apply_kev(advisories, kev)


def parse_campaign(name: str, text: str) -> Campaign:
    """Validate a campaign YAML text; errors name file, line and field, with a hint."""
    return load_campaign(name, text).campaign


def demo_campaign() -> Campaign:
    """The demo's campaign."""
    return parse_campaign(
        "demo-campaign.yaml", (_DATA / "demo-campaign.yaml").read_text(encoding="utf-8")
    )
