"""A decision per finding: emergency, next window, defer or ignore, with a sentence of why.

This is the first, small policy: severity, exploitation (KEV), exposure and whether a fix
exists. The fuller weighing of the risk of patching against the risk of not patching
builds on the same :class:`Decision` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from patchwarden.domain.advisories import Action, Advisory, Decision, Finding, Severity
from patchwarden.domain.assets import AssetBase

__all__ = ["DEFAULT_SLA_DAYS", "DecisionPolicy", "decide", "decide_all"]

DEFAULT_SLA_DAYS: dict[Severity, int] = {
    Severity.CRITICAL: 7,
    Severity.HIGH: 30,
    Severity.MEDIUM: 90,
    Severity.LOW: 180,
    Severity.NONE: 365,
}


@dataclass(frozen=True)
class DecisionPolicy:
    """Thresholds of the decision; defaults follow common SLA practice."""

    sla_days: Mapping[Severity, int] = field(default_factory=lambda: dict(DEFAULT_SLA_DAYS))
    no_fix_review_days: int = 7
    epss_emergency: float = 0.5


def decide(
    finding: Finding, asset: AssetBase, advisory: Advisory, now: datetime, policy: DecisionPolicy
) -> Decision:
    """Decide one finding.

    Example:
        >>> from patchwarden.domain.assets import Vm
        >>> vm = Vm(id="web-1", kind="vm", env="prod", internet_facing=True)
        >>> adv = Advisory(id="A-1", modified=datetime(2026, 1, 1), severity="high", kev=True)
        >>> f = Finding(asset_id="web-1", advisory_id="A-1", package="openssl",
        ...             ecosystem="Debian:12", installed="1", fixed="2", severity="high", kev=True)
        >>> decide(f, vm, adv, datetime(2026, 11, 1), DecisionPolicy()).reason
        'KEV-listed, internet-facing, fix available → emergency'
    """
    today = now.date()

    def made(action: Action, reason: str, due: date | None) -> Decision:
        return Decision(
            asset_id=finding.asset_id,
            advisory_id=finding.advisory_id,
            package=finding.package,
            action=action,
            reason=f"{reason} → {action.value}",
            due=due,
        )

    if advisory.classification == "cosmetic":
        return made(Action.IGNORE, "cosmetic change, no security impact", None)
    if not finding.fixed:
        review = today + timedelta(days=policy.no_fix_review_days)
        return made(Action.DEFER, f"no fixed version published yet, review on {review}", review)
    exposure = "internet-facing" if asset.internet_facing else "internal"
    sla = today + timedelta(days=policy.sla_days[finding.severity])
    if advisory.kev_due is not None:
        sla = min(sla, advisory.kev_due)
    if finding.kev:
        return made(Action.EMERGENCY, f"KEV-listed, {exposure}, fix available", today)
    if finding.epss is not None and finding.epss >= policy.epss_emergency:
        return made(
            Action.EMERGENCY, f"EPSS {finding.epss:.0%} likely exploited, {exposure}", today
        )
    if finding.severity is Severity.CRITICAL and asset.internet_facing:
        return made(Action.EMERGENCY, "critical severity, internet-facing, fix available", today)
    return made(
        Action.NEXT_WINDOW,
        f"{finding.severity.value} severity, {exposure}, fix available, due {sla}",
        sla,
    )


def decide_all(
    findings: list[Finding],
    assets: Mapping[str, AssetBase],
    advisories: Mapping[str, Advisory],
    now: datetime,
    policy: DecisionPolicy | None = None,
) -> list[Decision]:
    """Decide every finding, in the order given."""
    policy = policy or DecisionPolicy()
    return [decide(f, assets[f.asset_id], advisories[f.advisory_id], now, policy) for f in findings]
