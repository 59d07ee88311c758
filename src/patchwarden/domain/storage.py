"""What a storage account's service says about it, and the gaps a baseline check finds.

A storage account asset (:class:`~patchwarden.domain.assets.StorageAccount`) declares its
settings in the inventory; where the service exposes a setting through its API, what the
service says is read (:class:`StorageObservation`) and wins, and every gap
(:class:`StorageGap`) says which of the two it came from.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from patchwarden.domain.advisories import Severity
from patchwarden.domain.base import Value

__all__ = ["SettingSource", "StorageGap", "StorageObservation"]

SettingSource = Literal["service", "inventory"]
"""Where a setting was read: the storage service's API, or the inventory."""


class StorageObservation(Value):
    """Settings read from a storage service's API; ``None`` where it does not expose one.

    Attributes:
        redundancy: From the account's SKU (``Standard_RAGRS`` is ``geo``).
        soft_delete_days: The blob delete-retention policy's days (0: off).
        versioning: Whether blob versioning is on.
        public_containers: Containers that allow anonymous reads.
        endpoint: The service address read.
    """

    redundancy: Literal["local", "zone", "geo", "geo_zone"] | None = None
    soft_delete_days: int | None = None
    versioning: bool | None = None
    public_containers: tuple[str, ...] | None = None
    endpoint: str = ""


class StorageGap(Value):
    """A storage account setting below its baseline: a compliance finding with a due date.

    Attributes:
        asset_id: The storage account.
        env: Its environment.
        rule: The baseline rule (``encryption_at_rest``, ``public_access``, ...).
        severity: How bad the gap is.
        reason: What is wrong, for a person.
        fix: What to change.
        source: Where the setting was read.
        due: When it must be fixed (the policy's service level for the severity).
    """

    asset_id: str
    env: str
    rule: str
    severity: Severity
    reason: str
    fix: str
    source: SettingSource
    due: date
