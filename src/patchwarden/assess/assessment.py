"""One assessment: findings matched and decided, and the fixed version of each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from patchwarden.assess.decide import DecisionPolicy, decide_all
from patchwarden.assess.match import AdvisoryIndex, match_findings
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


def assess(
    inventory: Inventory,
    advisories: Iterable[Advisory],
    now: datetime,
    policy: DecisionPolicy | None = None,
) -> Assessment:
    """Match the inventory against advisories and decide every finding."""
    index = AdvisoryIndex(advisories)
    findings = match_findings(inventory, index)
    decisions = decide_all(findings, inventory.by_id, index.advisories, now, policy)
    return Assessment(now, tuple(findings), tuple(decisions))
