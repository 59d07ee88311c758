"""The report's per-asset drill-down: who owns it, its findings, baseline patches and steps."""

from __future__ import annotations

from dataclasses import dataclass

from patchwarden.report.values import Span

__all__ = ["AssetReport", "FindingRow", "OwnerRow", "PatchStateRow", "StepRow"]


@dataclass(frozen=True, kw_only=True)
class OwnerRow:
    """Who patches an asset (``provider`` or ``customer``) and why."""

    asset_id: str
    kind: str
    env: str
    owner: str
    reason: str


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
class StepRow(Span):
    """One step the engine ran (or skipped) on an asset."""

    step_id: str
    action: str
    target: str
    status: str
    detail: str = ""


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
