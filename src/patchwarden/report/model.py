"""The report's data model: plain frozen values, filled in by whoever runs a campaign.

The report layer only renders. It does not compute compliance, risk or ownership; the
service layer does, and hands the results over as a :class:`ReportData`. Every value here is
a plain string, number, bool or aware datetime, so the HTML, CSV and JSON forms all say the
same thing. Classes with more than three fields are keyword-only, so that two string fields
cannot be swapped silently by position.

The sections live in their own modules (``campaign``, ``assets``, ``service_levels``);
this module holds the headline values and :class:`ReportData`, and lists every type of the
model, so one import serves a renderer or the service that fills a report in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from patchwarden.report.assets import AssetReport, FindingRow, OwnerRow, PatchStateRow, StepRow
from patchwarden.report.campaign import CampaignReport, CanaryRow, WaveRow
from patchwarden.report.service_levels import (
    BaselineRow,
    ChangeRow,
    DriftRow,
    MttrRow,
    OverdueRow,
    StorageGapRow,
)
from patchwarden.report.values import empty_counts, freeze_counts, require_aware

__all__ = [
    "ACTIONS",
    "DUE_BUCKETS",
    "PATCH_STATES",
    "SEVERITIES",
    "AssetReport",
    "BaselineRow",
    "BurndownPoint",
    "CampaignReport",
    "CanaryRow",
    "ChangeRow",
    "DriftRow",
    "EnvCompliance",
    "FindingRow",
    "MttrRow",
    "OverdueRow",
    "OwnerRow",
    "PatchStateRow",
    "ReportData",
    "RiskyAsset",
    "StepRow",
    "StorageGapRow",
    "Summary",
    "WaveRow",
]

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "none")
"""Severity names, worst first; ``none`` also stands for unknown."""

ACTIONS: tuple[str, ...] = ("emergency", "next_window", "defer", "ignore")
"""Decision actions, most urgent first."""

DUE_BUCKETS: tuple[str, ...] = ("overdue", "due in 7 days", "due in 30 days", "later", "no date")
"""SLA buckets of open findings, most urgent first."""

PATCH_STATES: tuple[str, ...] = (
    "missing",
    "failed",
    "installed_pending_reboot",
    "installed_rejected",
    "installed",
    "installed_other",
    "not_applicable",
    "provider_responsibility",
)
"""Baseline compliance states of a patch on an asset, problems first."""


@dataclass(frozen=True)
class EnvCompliance:
    """How many assets of one environment are compliant."""

    env: str
    compliant: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.compliant <= self.total:
            raise ValueError(f"EnvCompliance({self.env!r}): need 0 <= compliant <= total")

    @classmethod
    def of(cls, env: str, assets: Iterable[AssetReport]) -> EnvCompliance:
        """Count the assets of ``env``, and the compliant ones, among ``assets``."""
        mine = [a for a in assets if a.env == env]
        return cls(env, sum(1 for a in mine if a.compliant), len(mine))


@dataclass(frozen=True)
class BurndownPoint:
    """Open findings at one moment of the campaign (virtual time)."""

    at: datetime
    open_findings: int
    label: str = ""

    def __post_init__(self) -> None:
        require_aware(self, "at", self.at)


@dataclass(frozen=True, kw_only=True)
class RiskyAsset:
    """An asset among the riskiest, with its score and why."""

    asset_id: str
    label: str
    score: float
    reason: str

    def __post_init__(self) -> None:
        # JSON has no NaN or infinity, and a bar cannot be NaN pixels long.
        if not math.isfinite(self.score):
            raise ValueError(f"RiskyAsset({self.asset_id!r}).score must be finite")


@dataclass(frozen=True, kw_only=True)
class Summary:
    """The headline numbers of a report."""

    assets: int = 0
    assets_by_kind: Mapping[str, int] = field(default_factory=empty_counts)
    findings_open_before: int = 0
    findings_open_after: int = 0
    emergency: int = 0
    compliant_before: int = 0
    compliant_after: int = 0
    provider_owned: int = 0
    patched_units: int = 0
    failed_units: int = 0
    rolled_back_units: int = 0

    def __post_init__(self) -> None:
        freeze_counts(self, "assets_by_kind")


@dataclass(frozen=True, kw_only=True)
class ReportData:
    """A whole report; every section but the title and time may be empty.

    Attributes:
        title: Heading of the report.
        generated_at: When the report was made: the real time (timezone-aware).
        as_of: The time the data describes, when it differs from ``generated_at`` (a
            simulated estate's clock); due dates and overdue days count from it.
        subtitle: One line of context, e.g. "simulated estate, seed 7".
        summary: Headline numbers.
        environments: Environment names in promotion order, earliest first.
        compliance_by_env: Compliant and total assets per environment.
        findings_by_severity: Open findings per severity (see :data:`SEVERITIES`).
        decisions_by_action: Findings per decided action (see :data:`ACTIONS`).
        burndown: Open findings over the campaign's (virtual) time, oldest first.
        riskiest_assets: The riskiest assets, riskiest first.
        responsibility: Who patches each asset, and why.
        campaign: The campaign run, if one ran.
        assets: Per-asset drill-down.
        due_buckets: Open findings per SLA bucket (see :data:`DUE_BUCKETS`).
        overdue: Open findings past due, longest overdue first.
        mttr: Mean time to remediate per environment and severity.
        baselines: Patch baselines with their snapshot ids.
        patch_states: Patches per compliance state over all assets (see :data:`PATCH_STATES`).
        drift: Assets deviating from their group's versions (same patch level).
        changes: Findings new or resolved since the previous assessment.
        still_open: Findings open in both assessments.
        storage_gaps: Storage accounts' gaps against their baseline (settings as the
            inventory declares them).
    """

    title: str
    generated_at: datetime
    as_of: datetime | None = None
    subtitle: str = ""
    summary: Summary = field(default_factory=Summary)
    environments: tuple[str, ...] = ()
    compliance_by_env: tuple[EnvCompliance, ...] = ()
    findings_by_severity: Mapping[str, int] = field(default_factory=empty_counts)
    decisions_by_action: Mapping[str, int] = field(default_factory=empty_counts)
    burndown: tuple[BurndownPoint, ...] = ()
    riskiest_assets: tuple[RiskyAsset, ...] = ()
    responsibility: tuple[OwnerRow, ...] = ()
    campaign: CampaignReport | None = None
    assets: tuple[AssetReport, ...] = ()
    due_buckets: Mapping[str, int] = field(default_factory=empty_counts)
    overdue: tuple[OverdueRow, ...] = ()
    mttr: tuple[MttrRow, ...] = ()
    baselines: tuple[BaselineRow, ...] = ()
    patch_states: Mapping[str, int] = field(default_factory=empty_counts)
    drift: tuple[DriftRow, ...] = ()
    changes: tuple[ChangeRow, ...] = ()
    still_open: int = 0
    storage_gaps: tuple[StorageGapRow, ...] = ()

    def __post_init__(self) -> None:
        require_aware(self, "generated_at", self.generated_at)
        if self.as_of is not None:
            require_aware(self, "as_of", self.as_of)
        freeze_counts(self, "findings_by_severity")
        freeze_counts(self, "decisions_by_action")
        freeze_counts(self, "due_buckets")
        freeze_counts(self, "patch_states")
