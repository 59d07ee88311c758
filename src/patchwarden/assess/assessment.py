"""One assessment: findings matched and decided, and the fixed version of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from patchwarden.assess.decide import DecisionContext, decide_all
from patchwarden.assess.firmware import match_firmware, suppress
from patchwarden.assess.match import AdvisoryIndex, match_findings
from patchwarden.assess.policy import Policy
from patchwarden.assess.risk import PatchFailures
from patchwarden.assess.sla import FindingKey
from patchwarden.domain.advisories import Action, Advisory, Decision, Finding
from patchwarden.domain.inventory import Inventory

__all__ = ["Assessment", "assess"]


@dataclass(frozen=True)
class Assessment:
    """Findings with their decisions, in the same order."""

    at: datetime
    findings: tuple[Finding, ...]
    decisions: tuple[Decision, ...]

    @property
    def fixes(self) -> dict[tuple[str, str, str], str]:
        """(asset, advisory, package) -> fixed version."""
        return {(f.asset_id, f.advisory_id, f.package): f.fixed for f in self.findings}

    def actions(self) -> Counter[Action]:
        """How many findings got each action."""
        return Counter(d.action for d in self.decisions)

    def open_for(self, asset_id: str) -> list[Finding]:
        """Findings of one asset."""
        return [f for f in self.findings if f.asset_id == asset_id]

    def decision_of(self) -> dict[FindingKey, Decision]:
        """Decisions keyed by (asset, advisory, package)."""
        return {(d.asset_id, d.advisory_id, d.package): d for d in self.decisions}


def assess(
    inventory: Inventory,
    advisories: Iterable[Advisory],
    now: datetime,
    policy: Policy | None = None,
    *,
    failures: PatchFailures | None = None,
    first_seen: Mapping[FindingKey, datetime] | None = None,
) -> Assessment:
    """Match the inventory against advisories and decide every finding.

    Packages are matched against OSV-style ranges, appliance and storage-part firmware
    against vendor (CSAF) statements; a vendor's ``known_not_affected`` turns the decision
    on a finding it covers to ignore, saying why.

    Args:
        inventory: The estate with its installed packages.
        advisories: Advisories to match (withdrawn ones are skipped).
        now: The moment of the assessment.
        policy: The decision policy; the defaults if ``None``.
        failures: Environments where a patch failed before, by (advisory, package).
        first_seen: When each finding was first seen (from earlier assessments).
    """
    advisories = list(advisories)
    index = AdvisoryIndex(advisories)
    vendor = match_firmware(inventory, advisories)
    findings = match_findings(inventory, index) + list(vendor.findings)
    context = DecisionContext.of(inventory, failures, first_seen)
    decisions = decide_all(findings, inventory, index.advisories, now, policy, context)
    decisions = suppress(findings, decisions, vendor.not_affected)
    return Assessment(now, tuple(findings), tuple(decisions))
