"""``storage check``: every storage account against its baseline, read live where it can be.

A storage account whose ``driver`` reaches its service (``azure_blob``) is read through the
service's API first; the baseline rules (:mod:`patchwarden.assess.storage`) then use what
the service said and, for what it does not show, the inventory. Each gap is a compliance
finding with a reason, a fix and a due date; each account says where its settings came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from patchwarden.assess.storage import RULES, check_storage_accounts
from patchwarden.domain.assets import StorageAccount
from patchwarden.domain.storage import StorageGap, StorageObservation
from patchwarden.drivers.real import RealClock
from patchwarden.drivers.registry import REGISTRY, DriverContext, DriverKind, DriverRegistry
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import DriverError
from patchwarden.service.sources import read_inventory

__all__ = ["RULES", "StorageCheck", "StorageGap", "check_storage"]


@dataclass(frozen=True)
class StorageCheck:
    """The gaps of every storage account, and where each account's settings were read.

    Attributes:
        gaps: Every gap, accounts in inventory order, rules in :data:`RULES` order.
        read_from: Account id → ``service <endpoint>`` or ``inventory``.
        errors: Account id → why its service could not be read (its inventory was used).
    """

    gaps: list[StorageGap]
    read_from: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready document."""
        return {
            "gaps": [g.model_dump(mode="json") for g in self.gaps],
            "read_from": self.read_from,
            "errors": self.errors,
        }


def check_storage(
    inventory_files: Sequence[Path], today: date, registry: DriverRegistry = REGISTRY
) -> StorageCheck:
    """Read the inventory, read each account's service where it has a driver, check all.

    Raises:
        ValidationFailed: an inventory file has problems.
    """
    inventory = read_inventory(inventory_files).inventory
    accounts = [a for a in inventory.assets if isinstance(a, StorageAccount)]
    observed: dict[str, StorageObservation] = {}
    read_from: dict[str, str] = {}
    errors: dict[str, str] = {}
    transport, clock = LocalTransport(), RealClock()
    for account in accounts:
        read_from[account.id] = "inventory"
        if account.driver == "sim":
            continue
        spec = registry.spec(DriverKind.STORAGE_ACCOUNT, account.driver)
        try:
            reader = spec.build(
                account.driver_config, DriverContext(inventory, account, transport, clock)
            )
            seen: StorageObservation = reader.read()
        except DriverError as error:
            errors[account.id] = str(error)
            continue
        observed[account.id] = seen
        read_from[account.id] = f"service {seen.endpoint}"
    return StorageCheck(check_storage_accounts(accounts, observed, today), read_from, errors)
