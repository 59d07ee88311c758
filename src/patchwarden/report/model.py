"""The report's data model: plain frozen values, filled in by whoever runs a campaign.

The report layer only renders. It does not compute compliance, risk or ownership; the
service layer does, and hands the results over as a :class:`ReportData`. Every value here is
a plain string, number, bool or aware datetime, so the HTML, CSV and JSON forms all say the
same thing. Classes with more than three fields are keyword-only, so that two string fields
cannot be swapped silently by position.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

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


def _aware(owner: object, name: str, value: datetime | None) -> None:
    # A naive datetime would print as if it were UTC and silently shift the timeline.
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{type(owner).__name__}.{name} must be timezone-aware, got {value!r}")


def _frozen_counts(owner: object, name: str) -> None:
    # Copy, then freeze: a caller mutating its dict later must not change a rendered report.
    counts = dict(getattr(owner, name))
    for key, value in counts.items():
        if value < 0:
            raise ValueError(f"{type(owner).__name__}.{name}[{key!r}] is negative: {value}")
    object.__setattr__(owner, name, MappingProxyType(counts))


def _empty_counts() -> Mapping[str, int]:
    return MappingProxyType({})


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
        _aware(self, "at", self.at)


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
class OwnerRow:
    """Who patches an asset (``provider`` or ``customer``) and why."""

    asset_id: str
    kind: str
    env: str
    owner: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class WaveRow:
    """One wave of a campaign and how its units fared."""

    name: str
    env: str
    group: str
    strategy: str
    units: int
    succeeded: int
    failed: int
    rolled_back: int
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self, "started_at", self.started_at)
        _aware(self, "finished_at", self.finished_at)


@dataclass(frozen=True, kw_only=True)
class CanaryRow:
    """One canary analysis: the verdict, and each metric canary against baseline."""

    step_id: str
    verdict: str
    score: float
    reason: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CampaignReport:
    """A campaign run: its plan, final state, waves and canary analyses."""

    name: str
    plan_hash: str
    state: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    waves: tuple[WaveRow, ...] = ()
    canaries: tuple[CanaryRow, ...] = ()

    def __post_init__(self) -> None:
        _aware(self, "started_at", self.started_at)
        _aware(self, "finished_at", self.finished_at)


@dataclass(frozen=True, kw_only=True)
class FindingRow:
    """One advisory that applies to one package of one asset, and what was decided."""

    advisory_id: str
    aliases: tuple[str, ...] = ()
    package: str
    source: str = ""
    """The source package it was built from, with its version, where it is another
    (``openssl 3.0.11-1~deb12u2`` for ``libssl3``; the SOURCERPM on the RPM family)."""
    installed: str
    fixed: str = ""
    severity: str
    cvss: float | None = None
    kev: bool = False
    decision: str
    reason: str = ""
    state: str
    due: str = ""
    """SLA due date (ISO), empty when none."""
    review: str = ""
    """Review date of a deferred decision (ISO), empty when none."""

    @property
    def is_open(self) -> bool:
        """Whether the finding is still open."""
        return self.state == "open"


@dataclass(frozen=True, kw_only=True)
class PatchStateRow:
    """One baseline patch on one asset and its compliance state (see :data:`PATCH_STATES`)."""

    advisory_id: str
    package: str
    installed: str
    target: str
    state: str


@dataclass(frozen=True, kw_only=True)
class StepRow:
    """One step the engine ran (or skipped) on an asset."""

    step_id: str
    action: str
    target: str
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        _aware(self, "started_at", self.started_at)
        _aware(self, "finished_at", self.finished_at)


@dataclass(frozen=True, kw_only=True)
class AssetReport:
    """Everything the report says about one asset: facts, findings and steps."""

    asset_id: str
    label: str
    kind: str
    env: str
    owner: str
    owner_reason: str = ""
    criticality: str = "medium"
    internet_facing: bool = False
    compliant: bool
    outcome: str
    findings: tuple[FindingRow, ...] = ()
    steps: tuple[StepRow, ...] = ()
    baseline: str = ""
    """Name of the patch baseline the asset is checked against; empty when none."""
    patch_states: tuple[PatchStateRow, ...] = ()

    @property
    def open_findings(self) -> tuple[FindingRow, ...]:
        """The findings still open."""
        return tuple(f for f in self.findings if f.is_open)

    @property
    def owner_row(self) -> OwnerRow:
        """Who patches this asset and why, as the responsibility table shows it."""
        return OwnerRow(
            asset_id=self.asset_id,
            kind=self.kind,
            env=self.env,
            owner=self.owner,
            reason=self.owner_reason,
        )

    @property
    def troubled(self) -> bool:
        """Whether a step failed or was rolled back on this asset."""
        return any(s.status in ("failed", "rolled_back") for s in self.steps)


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
class Summary:
    """The headline numbers of a report."""

    assets: int = 0
    assets_by_kind: Mapping[str, int] = field(default_factory=_empty_counts)
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
        _frozen_counts(self, "assets_by_kind")


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
    """

    title: str
    generated_at: datetime
    as_of: datetime | None = None
    subtitle: str = ""
    summary: Summary = field(default_factory=Summary)
    environments: tuple[str, ...] = ()
    compliance_by_env: tuple[EnvCompliance, ...] = ()
    findings_by_severity: Mapping[str, int] = field(default_factory=_empty_counts)
    decisions_by_action: Mapping[str, int] = field(default_factory=_empty_counts)
    burndown: tuple[BurndownPoint, ...] = ()
    riskiest_assets: tuple[RiskyAsset, ...] = ()
    responsibility: tuple[OwnerRow, ...] = ()
    campaign: CampaignReport | None = None
    assets: tuple[AssetReport, ...] = ()
    due_buckets: Mapping[str, int] = field(default_factory=_empty_counts)
    overdue: tuple[OverdueRow, ...] = ()
    mttr: tuple[MttrRow, ...] = ()
    baselines: tuple[BaselineRow, ...] = ()
    patch_states: Mapping[str, int] = field(default_factory=_empty_counts)
    drift: tuple[DriftRow, ...] = ()
    changes: tuple[ChangeRow, ...] = ()
    still_open: int = 0

    def __post_init__(self) -> None:
        _aware(self, "generated_at", self.generated_at)
        if self.as_of is not None:
            _aware(self, "as_of", self.as_of)
        _frozen_counts(self, "findings_by_severity")
        _frozen_counts(self, "decisions_by_action")
        _frozen_counts(self, "due_buckets")
        _frozen_counts(self, "patch_states")
