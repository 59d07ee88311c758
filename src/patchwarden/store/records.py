"""Plain frozen values the store hands out, detached from any database session.

The ORM objects never leave the store: callers get these instead, so nothing they hold can
lazily hit the database or be changed behind the store's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "AdvisoryRecord",
    "AssessmentRecord",
    "FindingRecord",
    "InventoryCounts",
    "InventoryRecord",
    "JournalEvent",
    "LeaseRecord",
    "PlanRecord",
    "RunRecord",
    "UpsertCounts",
]


class InventoryCounts(NamedTuple):
    """What :meth:`Store.replace_inventory` changed."""

    inserted: int
    updated: int
    deleted: int
    unchanged: int


class UpsertCounts(NamedTuple):
    """What :meth:`Store.upsert_advisories` changed; unpacks as a 3-tuple."""

    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class InventoryRecord:
    """One asset of the stored inventory snapshot."""

    id: str
    kind: str
    env: str
    owner: str
    data: dict[str, Any]
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class AdvisoryRecord:
    """One stored advisory."""

    id: str
    modified: datetime
    withdrawn: datetime | None
    data: dict[str, Any]
    imported_at: datetime


@dataclass(frozen=True)
class AssessmentRecord:
    """One stored assessment (its findings come from :meth:`Store.findings_for`)."""

    id: int
    created_at: datetime
    summary: dict[str, Any]


@dataclass(frozen=True)
class FindingRecord:
    """One stored finding; ``data`` is the whole finding as it was recorded."""

    assessment_id: int
    asset_id: str
    package: str
    installed: str
    fixed: str | None
    advisory_id: str
    severity: str
    decision: str
    reason: str
    data: dict[str, Any]


@dataclass(frozen=True)
class PlanRecord:
    """One stored plan."""

    hash: str
    created_at: datetime
    name: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    """One run of a plan; ``finished_at`` and ``summary`` stay ``None`` until it ends."""

    id: str
    plan_hash: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class LeaseRecord:
    """Who drives a run, since when and until when (it may have expired)."""

    run_id: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class JournalEvent:
    """One event of a run's journal; ``seq`` counts from 1 within the run."""

    run_id: str
    seq: int
    at: datetime
    step_id: str
    event: str
    payload: dict[str, Any]
