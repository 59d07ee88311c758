"""``patchwarden evidence``: what an auditor asks for, kept in a storage account and verified.

Evidence (reports, plan files, change records, journals of finished runs, scan exports,
audit-chain heads) is written to an evidence store: a local directory, or a container of a
storage account asset whose ``driver: azure_blob`` says where it is and which variable
holds its SAS. Each write is recorded in the audit trail with the object's SHA-256
(``evidence.put``), so ``verify`` compares every object with what was recorded when it was
written. ``lifecycle`` carries out the storage account's lifecycle rules on the objects'
ages: cool, then archive, then delete; each move is recorded too, where the service does
not apply the rules itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from patchwarden.domain.assets import LifecycleRule, StorageAccount
from patchwarden.drivers.azure_blob import AzureBlobSettings
from patchwarden.drivers.evidence import (
    AzureBlobEvidence,
    DirectoryEvidence,
    EvidenceObject,
    EvidenceStore,
)
from patchwarden.errors import DriverError, UsageError
from patchwarden.service.audit import Actor, record
from patchwarden.service.sources import read_inventory
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter

__all__ = [
    "EvidenceObject",
    "EvidenceStore",
    "LifecycleRule",
    "Move",
    "Verified",
    "apply_lifecycle",
    "open_evidence",
    "put_evidence",
    "verify_evidence",
]

_ORDER = {"hot": 0, "cool": 1, "archive": 2, "delete": 3}


def open_evidence(
    directory: Path | None,
    inventory_files: Sequence[Path] = (),
    account: str | None = None,
    container: str = "evidence",
) -> tuple[EvidenceStore, tuple[LifecycleRule, ...]]:
    """The evidence store named by the options, and the lifecycle rules that apply to it.

    Raises:
        UsageError: neither or both of a directory and an account are given, or the
            account is not a storage account with a real driver.
        ValidationFailed: an inventory file has problems.
    """
    if (directory is None) == (account is None):
        raise UsageError("give --dir PATH, or --account ID with -i INVENTORY")
    if directory is not None:
        return DirectoryEvidence(directory), ()
    inventory = read_inventory(inventory_files).inventory
    asset = inventory.by_id.get(account or "")
    if not isinstance(asset, StorageAccount):
        raise UsageError(f"--account {account}: no storage_account asset of that id")
    if asset.driver != "azure_blob":
        raise UsageError(
            f"--account {account}: its driver is {asset.driver!r}; evidence in a storage "
            "account needs `driver: azure_blob` with its endpoint and sas_env"
        )
    settings = AzureBlobSettings.model_validate(asset.driver_config, context={"asset": asset})
    sas = os.environ.get(settings.sas_env, "")
    if not sas:
        raise UsageError(f"set {settings.sas_env} to a SAS token of {account} (read, write, list)")
    return AzureBlobEvidence(settings.endpoint, container, sas), asset.lifecycle


def _object_id(evidence: EvidenceStore, name: str) -> str:
    return f"{evidence.location}/{name}"


def put_evidence(
    store: Store, evidence: EvidenceStore, name: str, data: bytes, actor: Actor, now: datetime
) -> EvidenceObject:
    """Write one object and record its SHA-256 in the audit trail."""
    written = evidence.put(name, data)
    digest = hashlib.sha256(data).hexdigest()
    record(
        store, actor, "evidence.put", "evidence", _object_id(evidence, name),
        object_hash=digest, details={"size": len(data), "tier": written.tier}, at=now,
    )  # fmt: skip
    return written


@dataclass(frozen=True)
class Verified:
    """One object's verification: ``ok``, ``changed``, ``unrecorded`` or ``missing``."""

    name: str
    status: str
    detail: str = ""


def verify_evidence(store: Store, evidence: EvidenceStore) -> list[Verified]:
    """Every object's SHA-256 against the one the audit trail recorded when it was written.

    An archived object cannot be read until it is rehydrated: its recorded SHA-256 is then
    compared with the one the store keeps with it, and the detail says so. An object the
    trail recorded that is gone, and whose deletion the trail does not record, is
    ``missing``.
    """
    prefix = f"{evidence.location}/"
    entries = store.audit.entries(AuditFilter(action="evidence."))
    recorded: dict[str, str] = {}
    deleted: set[str] = set()
    for entry in entries:
        if not entry.object_id.startswith(prefix):
            continue
        name = entry.object_id.removeprefix(prefix)
        if entry.action == "evidence.put":
            recorded[name] = entry.object_hash
        elif entry.action == "evidence.delete":
            deleted.add(name)
    rows: list[Verified] = []
    present = set()
    for obj in evidence.list():
        present.add(obj.name)
        expected = recorded.get(obj.name)
        if expected is None:
            rows.append(Verified(obj.name, "unrecorded", "not written through patchwarden"))
            continue
        if obj.tier == "archive":
            same = obj.sha256 == expected
            rows.append(Verified(obj.name, "ok" if same else "changed",
                                 "archived: the store's recorded SHA-256 compared"))  # fmt: skip
            continue
        actual = hashlib.sha256(evidence.get(obj.name)).hexdigest()
        if actual == expected:
            rows.append(Verified(obj.name, "ok"))
        else:
            rows.append(Verified(obj.name, "changed", f"SHA-256 {actual}, recorded {expected}"))
    for name in sorted(set(recorded) - present - deleted):
        rows.append(Verified(name, "missing", "recorded when written, gone, deletion not recorded"))
    return sorted(rows, key=lambda r: r.name)


@dataclass(frozen=True)
class Move:
    """A lifecycle move: an object from one tier to another, or deleted."""

    name: str
    was: str
    now: str
    age_days: int


def apply_lifecycle(
    store: Store,
    evidence: EvidenceStore,
    rules: Sequence[LifecycleRule],
    actor: Actor,
    now: datetime,
) -> list[Move]:
    """Carry out ``rules`` on each object's age: the furthest action due wins; never back.

    Example rules: ``[{after_days: 30, action: cool}, {after_days: 90, action: archive},
    {after_days: 2555, action: delete}]`` (seven years' retention).
    """
    moves: list[Move] = []
    for obj in evidence.list():
        age = (now - obj.written).days
        due = [r.action for r in rules if age >= r.after_days]
        if not due:
            continue
        target = max(due, key=lambda action: _ORDER[action])
        if _ORDER[target] <= _ORDER[obj.tier]:
            continue
        try:
            if target == "delete":
                evidence.delete(obj.name)
            else:
                evidence.set_tier(obj.name, target)
        except DriverError as error:
            raise DriverError(f"lifecycle of {obj.name}: {error}") from None
        action = "evidence.delete" if target == "delete" else "evidence.tier"
        record(
            store, actor, action, "evidence", _object_id(evidence, obj.name),
            object_hash=obj.sha256, details={"from": obj.tier, "to": target, "age_days": age},
            at=now,
        )  # fmt: skip
        moves.append(Move(obj.name, obj.tier, target, age))
    return moves
