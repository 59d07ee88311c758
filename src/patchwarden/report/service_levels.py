"""The report's service-level sections: overdue, MTTR, baselines, drift, changes, storage."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BaselineRow", "ChangeRow", "DriftRow", "MttrRow", "OverdueRow", "StorageGapRow"]


@dataclass(frozen=True, kw_only=True)
class OverdueRow:
    """An open finding past its SLA due date."""

    asset_id: str
    env: str
    advisory_id: str
    package: str
    severity: str
    decision: str
    due: str
    days_overdue: int


@dataclass(frozen=True, kw_only=True)
class MttrRow:
    """Mean time to remediate in one environment for one severity."""

    env: str
    severity: str
    remediated: int
    mean_days: float


@dataclass(frozen=True, kw_only=True)
class BaselineRow:
    """A patch baseline's frozen snapshot and how the assets it covers fare."""

    name: str
    os_family: str
    snapshot_id: str
    approved: int
    rejected: int
    assets: int
    compliant: int


@dataclass(frozen=True, kw_only=True)
class DriftRow:
    """One asset deviating from its group's version of a package."""

    group_kind: str
    group: str
    asset_id: str
    package: str
    version: str
    reference: str
    how: str


@dataclass(frozen=True, kw_only=True)
class ChangeRow:
    """A finding that is new or resolved between two assessments."""

    change: str
    """``new`` or ``resolved``."""
    asset_id: str
    advisory_id: str
    package: str
    severity: str


@dataclass(frozen=True, kw_only=True)
class StorageGapRow:
    """A storage account setting below its baseline: a compliance finding."""

    asset_id: str
    env: str
    rule: str
    severity: str
    reason: str
    fix: str
    source: str
    """Where the setting was read: ``service`` or ``inventory``."""
    due: str
