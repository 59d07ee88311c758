"""One decision per (asset, patch): emergency, next window, defer or ignore, and why.

The order of the rules is the policy's spine, read top to bottom:

1. cosmetic (by default) → ignore;
2. no fixed version yet → defer, review soon;
3. the same patch failed in an earlier environment → defer, review soon;
4. known exploited (KEV), likely exploited (EPSS), critical and internet-facing, or a risk
   of not patching above the emergency threshold → emergency;
5. enhancements (by default) → defer to a review;
6. otherwise weigh: low risk of not patching, or a risky patch, defers while the SLA leaves
   room for a review; everything else goes to the next maintenance window by its due date.

Each decision carries one plain sentence ending in the action, e.g.
"KEV-listed, internet-facing, fix available → emergency". Where the provider patches the
asset's layer the decision is made all the same (how urgent it is tells the team when to
chase the provider) and its sentence says so; the planner gives such assets no steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from patchwarden.assess.policy import Classification, Policy
from patchwarden.assess.risk import (
    PatchFailures,
    Redundancy,
    Score,
    classify,
    failed_envs,
    redundancy_of,
    risk_of_not_patching,
    risk_of_patching,
)
from patchwarden.assess.sla import FindingKey, due_date
from patchwarden.domain.advisories import Action, Advisory, Decision, Finding, Severity
from patchwarden.domain.assets import AssetBase, Criticality, Owner
from patchwarden.domain.inventory import DEFAULT_ENVIRONMENTS, Inventory
from patchwarden.domain.responsibility import responsibility_of

__all__ = ["DecisionContext", "decide", "decide_all"]


@dataclass(frozen=True)
class DecisionContext:
    """What a decision needs beyond the finding: the estate around it and its history.

    Attributes:
        environments: Promotion order, earliest first ("earlier environment" means earlier here).
        redundancy: Per asset, whether it can leave service without an outage.
        failures: Environments where a patch failed before (see :data:`PatchFailures`).
        first_seen: When each finding was first seen; SLAs count from then (default: now).
    """

    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    redundancy: Mapping[str, Redundancy] = field(default_factory=dict)
    failures: PatchFailures = field(default_factory=dict)
    first_seen: Mapping[FindingKey, datetime] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        inventory: Inventory,
        failures: PatchFailures | None = None,
        first_seen: Mapping[FindingKey, datetime] | None = None,
    ) -> DecisionContext:
        """The context of an inventory: its environment order and redundancy."""
        return cls(
            environments=inventory.environments,
            redundancy=redundancy_of(inventory),
            failures=failures or {},
            first_seen=first_seen or {},
        )

    def earlier_failures(self, asset: AssetBase, advisory_id: str, package: str) -> set[str]:
        """Environments before the asset's where this patch failed."""
        envs = failed_envs(self.failures, advisory_id, package)
        if asset.env not in self.environments:
            return set()
        rank = self.environments.index(asset.env)
        return {e for e in envs if e in self.environments and self.environments.index(e) < rank}


_CRITICALITY_WORDS = {
    Criticality.CRITICAL: "business-critical asset",
    Criticality.HIGH: "high-criticality asset",
}


def _exposure(asset: AssetBase) -> str:
    return "internet-facing" if asset.internet_facing else "internal"


def _threat(finding: Finding, advisory: Advisory, severity: Severity) -> str:
    cvss = f" (CVSS {finding.cvss_score:.1f})" if finding.cvss_score is not None else ""
    words = [f"{severity.value} severity{cvss}"]
    if finding.kev or advisory.kev:
        words.insert(0, "KEV-listed")
    return ", ".join(words)


def _trigger(
    finding: Finding,
    asset: AssetBase,
    advisory: Advisory,
    severity: Severity,
    risk: Score,
    p: Policy,
) -> str | None:
    """Why a finding is an emergency, in a few words; ``None`` when it is not one."""
    rules = p.exploitation
    epss = finding.epss if finding.epss is not None else advisory.epss
    if rules.kev_is_emergency and (finding.kev or advisory.kev):
        return "KEV-listed"
    if epss is not None and epss >= rules.epss_emergency:
        return f"EPSS {epss:.0%} (likely exploited)"
    if (
        rules.critical_internet_facing_is_emergency
        and severity is Severity.CRITICAL
        and asset.internet_facing
    ):
        return "critical severity"
    if risk.points >= p.thresholds.emergency:
        return (
            f"{severity.value} severity, risk {risk.points:g}"
            f" (emergency at {p.thresholds.emergency:g})"
        )
    return None


@dataclass(frozen=True)
class _Case:
    """One finding and everything the rules read about it, worked out once."""

    finding: Finding
    asset: AssetBase
    advisory: Advisory
    policy: Policy
    today: date
    seen: date
    """When the finding was first seen: its SLA counts from then."""
    classification: Classification
    severity: Severity
    due: date
    risk: Score
    """Risk of not patching."""
    patch_risk: Score
    failed: frozenset[str]
    """Earlier environments where the same patch failed."""
    provider: str
    """What every reason adds when the provider patches the asset's layer; else empty."""

    @classmethod
    def of(
        cls,
        finding: Finding,
        asset: AssetBase,
        advisory: Advisory,
        now: datetime,
        p: Policy,
        ctx: DecisionContext,
    ) -> _Case:
        classification, severity = classify(advisory)
        key = (finding.asset_id, finding.advisory_id, finding.package)
        seen = ctx.first_seen.get(key, now).date()
        due = due_date(severity, seen, p, finding.kev_due or advisory.kev_due)
        redundancy = ctx.redundancy.get(asset.id, Redundancy(False))
        failed = ctx.earlier_failures(asset, finding.advisory_id, finding.package)
        patch_risk = risk_of_patching(
            finding, asset, advisory, p, redundancy=redundancy, failed_before=failed
        )
        owner = responsibility_of(asset)
        # The provider patches this layer: the decision still says how urgent it is (so the
        # team can chase the provider), and the planner gives the asset no steps.
        provider = (
            f"; the provider patches it ({owner.patch_layer.value} layer under"
            f" {owner.service_model.value})"
            if owner.owner is Owner.PROVIDER
            else ""
        )
        return cls(
            finding=finding,
            asset=asset,
            advisory=advisory,
            policy=p,
            today=now.date(),
            seen=seen,
            classification=classification,
            severity=severity,
            due=due,
            risk=risk_of_not_patching(finding, asset, advisory, p),
            patch_risk=patch_risk,
            failed=frozenset(failed),
            provider=provider,
        )

    @property
    def kev(self) -> bool:
        """Whether the finding or its advisory is on the KEV list."""
        return self.finding.kev or self.advisory.kev

    @property
    def threat(self) -> str:
        """Severity (and KEV) and exposure, e.g. ``high severity (CVSS 7.5), internal``."""
        return f"{_threat(self.finding, self.advisory, self.severity)}, {_exposure(self.asset)}"

    @property
    def risky_patch(self) -> bool:
        """Whether patching itself is risky enough to defer for."""
        return self.patch_risk.points >= self.policy.thresholds.patch_risk_defer

    def review_in(self, days: int) -> date:
        """A review ``days`` from today, but no later than the due date (if still ahead)."""
        return min(self.today + timedelta(days=days), max(self.due, self.today))

    def made(
        self, action: Action, reason: str, due: date | None, review: date | None = None
    ) -> Decision:
        """The decision, its reason ending in the action."""
        return Decision(
            asset_id=self.finding.asset_id,
            advisory_id=self.finding.advisory_id,
            package=self.finding.package,
            action=action,
            reason=f"{reason}{self.provider} → {action.value}",
            due=due,
            review=review,
            risk=self.risk.points,
            patch_risk=self.patch_risk.points,
            classification=self.classification,
        )


def _ignored(c: _Case) -> Decision | None:
    """Rule 1: cosmetic (by default) changes are ignored."""
    if c.classification not in c.policy.ignore_classifications:
        return None
    return c.made(Action.IGNORE, f"{c.classification} change, no security impact", due=None)


def _no_fix_yet(c: _Case) -> Decision | None:
    """Rule 2: without a fixed version there is nothing to install; review soon."""
    if c.finding.fixed and not c.finding.no_fix:
        return None
    review = c.review_in(c.policy.review_days.no_fix)
    meanwhile = "; mitigate meanwhile" if c.kev else ""
    return c.made(
        Action.DEFER,
        f"{c.threat}, no fixed version published yet{meanwhile}, review on {review}",
        c.due,
        review,
    )


def _failed_earlier(c: _Case) -> Decision | None:
    """Rule 3: the same patch failed in an earlier environment; hold it."""
    if not c.failed:
        return None
    review = c.review_in(c.policy.review_days.failed_earlier)
    return c.made(
        Action.DEFER,
        f"same patch failed in {', '.join(sorted(c.failed))}, hold until that is understood,"
        f" review on {review}",
        c.due,
        review,
    )


def _emergency(c: _Case) -> Decision | None:
    """Rule 4: exploited, likely exploited, critical and exposed, or too risky to wait."""
    trigger = _trigger(c.finding, c.asset, c.advisory, c.severity, c.risk, c.policy)
    if trigger is None:
        return None
    words = [trigger, _exposure(c.asset)]
    if c.asset.criticality in _CRITICALITY_WORDS:
        words.append(_CRITICALITY_WORDS[c.asset.criticality])
    words.append("fix available")
    if c.risky_patch:
        words.append(f"despite {' and '.join(c.patch_risk.factors[:2])}")
    due = min(c.due, c.seen + timedelta(days=c.policy.sla.emergency_days))
    return c.made(Action.EMERGENCY, ", ".join(words), due)


def _not_security(c: _Case) -> Decision | None:
    """Rule 5: enhancements (by default) wait for a review."""
    if c.classification not in c.policy.defer_classifications:
        return None
    review = c.review_in(c.policy.review_days.deferred)
    reason = f"{c.classification}, not a security fix, review on {review}"
    return c.made(Action.DEFER, reason, c.due, review)


def _weighed(c: _Case) -> Decision:
    """Rule 6: defer a low risk or a risky patch while the SLA leaves room, else next window."""
    p = c.policy
    # Deferring is only allowed while a review still falls well before the due date.
    room = (c.due - c.today).days > p.review_days.deferred
    risky = ", ".join(c.patch_risk.factors[:3])
    if room and (c.risk.points < p.thresholds.next_window or c.risky_patch):
        review = c.review_in(p.review_days.deferred)
        why = (
            f"low risk ({c.risk.points:g} points)"
            if c.risk.points < p.thresholds.next_window
            else f"risky to patch ({risky})"
        )
        return c.made(
            Action.DEFER, f"{c.threat}, {why}, review on {review} (due {c.due})", c.due, review
        )
    # Too close to the due date to wait: say what makes it risky so the window plans for it.
    caveat = f"; risky to patch ({risky}), plan for it" if c.risky_patch else ""
    return c.made(Action.NEXT_WINDOW, f"{c.threat}, fix available, due {c.due}{caveat}", c.due)


_RULES = (_ignored, _no_fix_yet, _failed_earlier, _emergency, _not_security)
"""The rules that may settle a finding, in the policy's order; :func:`_weighed` settles the rest."""


def decide(
    finding: Finding,
    asset: AssetBase,
    advisory: Advisory,
    now: datetime,
    policy: Policy | None = None,
    context: DecisionContext | None = None,
) -> Decision:
    """Decide one finding.

    Args:
        finding: What is exposed.
        asset: Where.
        advisory: The advisory behind the finding.
        now: The moment of the decision (dates are counted from its date).
        policy: Thresholds and weights; the defaults if ``None``.
        context: Redundancy, earlier failures and first-seen times; none if ``None``.

    Returns:
        The decision, with its reason, due date (SLA) and review date (when deferred).

    Example:
        >>> from patchwarden.domain.assets import Vm
        >>> vm = Vm(id="web-1", kind="vm", env="prod", internet_facing=True)
        >>> adv = Advisory(id="A-1", modified=datetime(2026, 1, 1), severity="high", kev=True)
        >>> f = Finding(asset_id="web-1", advisory_id="A-1", package="openssl",
        ...             ecosystem="Debian:12", installed="3.0.11-1", fixed="3.0.11-2",
        ...             severity="high", kev=True)
        >>> decide(f, vm, adv, datetime(2026, 11, 1)).reason
        'KEV-listed, internet-facing, fix available → emergency'
    """
    case = _Case.of(finding, asset, advisory, now, policy or Policy(), context or DecisionContext())
    for rule in _RULES:
        decision = rule(case)
        if decision is not None:
            return decision
    return _weighed(case)


def decide_all(
    findings: Sequence[Finding],
    inventory: Inventory,
    advisories: Mapping[str, Advisory],
    now: datetime,
    policy: Policy | None = None,
    context: DecisionContext | None = None,
) -> list[Decision]:
    """Decide every finding, in the order given; exactly as :func:`decide` one by one.

    A fleet repeats itself: thousands of hosts carry the same package at the same version
    and share everything a decision reads of an asset (:func:`_profile`). Each distinct
    case (the asset's profile, the finding's content, the day it was first seen) is
    decided once; the other findings of that case get a copy naming their own asset.
    """
    p = policy or Policy()
    ctx = context or DecisionContext.of(inventory)
    by_id = inventory.by_id
    profiles: dict[str, tuple[object, ...]] = {}
    decided: dict[tuple[object, ...], Decision] = {}
    today = now.date()
    out: list[Decision] = []
    for f in findings:
        asset_id = f.asset_id
        profile = profiles.get(asset_id)
        if profile is None:
            profile = profiles[asset_id] = _profile(by_id[asset_id], ctx)
        seen = ctx.first_seen.get((asset_id, f.advisory_id, f.package))
        key = (
            profile, f.advisory_id, f.package, f.installed, f.fixed, f.no_fix, f.kev, f.epss,
            f.cvss_score, f.kev_due, today if seen is None else seen.date(),
        )  # fmt: skip
        same = decided.get(key)
        if same is None:
            same = decided[key] = decide(f, by_id[asset_id], advisories[f.advisory_id], now, p, ctx)
        elif same.asset_id != asset_id:
            same = Decision.trusted(**{**same.__dict__, "asset_id": asset_id})
        out.append(same)
    return out


def _profile(asset: AssetBase, ctx: DecisionContext) -> tuple[object, ...]:
    """Everything :func:`decide` reads of an asset besides its id.

    Its environment (weights, earlier failures), exposure and criticality (both risks,
    the emergency rule, the reason's words), whether it has a spare (risk of patching)
    and who patches its layer (the reason's provider clause). Two assets with equal
    profiles get equal decisions for equal findings seen on the same day.
    """
    owner = responsibility_of(asset)
    return (
        asset.env,
        asset.internet_facing,
        asset.criticality,
        ctx.redundancy.get(asset.id, Redundancy(False)).spare,
        owner.owner,
        owner.patch_layer,
        owner.service_model,
    )
