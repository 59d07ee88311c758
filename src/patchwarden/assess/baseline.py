"""Patch baselines in the spirit of AWS Systems Manager: which patches are approved.

A baseline belongs to one OS family (or one application ecosystem such as ``PyPI``). Its
approval rules approve patches by classification, severity and package, either some days
after release (``approve_after_days``) or if released by a date (``approve_until_date``).
Explicit ``approved`` and ``rejected`` lists name advisories (by id or alias), packages
(shell patterns) or exact ``package=version`` updates; rejected wins. A rejected update
that is installed anyway is reported ``installed_other`` when the baseline allows it as a
dependency, ``installed_rejected`` when it blocks it.

Taking a :class:`BaselineSnapshot` freezes the approved set at one moment. Its id is the
hash of that set, so every host of a campaign is checked against, and patched to, the same
patches, even if a rule would approve more the next day.

Example:
    >>> from datetime import datetime
    >>> rule = ApprovalRule(classification=("security",), approve_after_days=0)
    >>> base = PatchBaseline(name="deb", os_family="debian", approval_rules=(rule,))
    >>> snap = take_snapshot(base, [], datetime(2026, 11, 1))
    >>> snap.approved, snap.id[:7]
    ((), 'sha256:')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from patchwarden.assess.policy import Classification
from patchwarden.assess.risk import classify
from patchwarden.domain.advisories import Advisory, Affected, Severity
from patchwarden.domain.base import Value
from patchwarden.domain.ecosystems import OS_FAMILY_ECOSYSTEM

__all__ = [
    "ApprovalRule",
    "BaselinePatch",
    "BaselineSet",
    "BaselineSnapshot",
    "PatchBaseline",
    "baseline_ecosystem",
    "candidate_patches",
    "take_snapshot",
]


def baseline_ecosystem(os_family: str) -> str:
    """The lower-case OSV ecosystem base name of an OS family (or the name itself)."""
    family = os_family.lower()
    return OS_FAMILY_ECOSYSTEM.get(family, family).lower()


class ApprovalRule(Value):
    """Approve patches that match every filter given, after a delay or up to a date."""

    classification: tuple[Classification, ...] = ()
    """Empty: any classification."""
    severity: tuple[Severity, ...] = ()
    """Empty: any severity."""
    packages: tuple[str, ...] = ()
    """Package name patterns (shell style); empty: any package."""
    approve_after_days: Annotated[int, Field(ge=0, le=360)] | None = None
    approve_until_date: date | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.approve_after_days is None) == (self.approve_until_date is None):
            raise ValueError("set exactly one of approve_after_days and approve_until_date")
        return self

    def approves(self, patch: BaselinePatch, today: date) -> bool:
        """Whether this rule approves the patch on ``today``."""
        if self.classification and patch.classification not in self.classification:
            return False
        if self.severity and patch.severity not in self.severity:
            return False
        if self.packages and not any(fnmatchcase(patch.package, p) for p in self.packages):
            return False
        if patch.released is None:
            # Without a release date only an explicit approval can vouch for a patch.
            return False
        if self.approve_until_date is not None:
            return patch.released <= self.approve_until_date
        return patch.released + timedelta(days=self.approve_after_days or 0) <= today


class PatchBaseline(Value):
    """Which patches one OS family (or application ecosystem) should have."""

    name: Annotated[str, Field(min_length=1)]
    os_family: Annotated[str, Field(min_length=1)]
    """``debian``, ``ubuntu``, ``rhel``, ``alma``, ``rocky``, ``alpine``, or an OSV ecosystem."""
    description: str = ""
    approval_rules: tuple[ApprovalRule, ...] = ()
    approved: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    rejected_action: Literal["allow_as_dependency", "block"] = "allow_as_dependency"


class BaselineSet(Value):
    """The baselines of an estate: at most one per OS family."""

    baselines: tuple[PatchBaseline, ...] = ()

    @field_validator("baselines")
    @classmethod
    def _unique(cls, baselines: tuple[PatchBaseline, ...]) -> tuple[PatchBaseline, ...]:
        seen: set[str] = set()
        for baseline in baselines:
            family = baseline_ecosystem(baseline.os_family)
            if family in seen:
                raise ValueError(f"two baselines for os_family {baseline.os_family!r}")
            seen.add(family)
        return baselines

    def for_ecosystem(self, ecosystem: str) -> PatchBaseline | None:
        """The baseline whose OS family packages live in this OSV ecosystem (``Debian:12``)."""
        base = ecosystem.split(":", 1)[0].lower()
        return next((b for b in self.baselines if baseline_ecosystem(b.os_family) == base), None)


@dataclass(frozen=True, kw_only=True)
class BaselinePatch:
    """One update an advisory offers: a package of an ecosystem fixed in a version."""

    advisory_id: str
    ecosystem: str
    package: str
    fixed: str
    classification: Classification
    severity: Severity
    released: date | None
    approved_by: str = ""
    """Why it is approved or rejected: ``rule 1``, ``approved list``, ``rejected list``."""

    def key(self) -> tuple[str, str, str, str]:
        """Its identity in a snapshot."""
        return (self.advisory_id, self.ecosystem, self.package, self.fixed)


@dataclass(frozen=True, kw_only=True)
class BaselineSnapshot:
    """A baseline's approved and rejected patches frozen at one moment, with a content id."""

    baseline: str
    os_family: str
    taken_at: datetime
    rejected_action: str
    approved: tuple[BaselinePatch, ...]
    rejected: tuple[BaselinePatch, ...]
    id: str

    def approved_keys(self) -> frozenset[tuple[str, str, str, str]]:
        """Identities of the approved patches."""
        return frozenset(p.key() for p in self.approved)

    def rejected_keys(self) -> frozenset[tuple[str, str, str, str]]:
        """Identities of the rejected patches."""
        return frozenset(p.key() for p in self.rejected)


def _fixes(affected: Affected) -> list[str]:
    return sorted({e.fixed for r in affected.ranges for e in r.events if e.fixed is not None})


def candidate_patches(os_family: str, advisories: Iterable[Advisory]) -> list[BaselinePatch]:
    """Every update the advisories offer for an OS family's ecosystem, in a stable order."""
    base = baseline_ecosystem(os_family)
    found: dict[tuple[str, str, str, str], BaselinePatch] = {}
    for advisory in advisories:
        if advisory.withdrawn is not None:
            continue
        classification, severity = classify(advisory)
        released = (advisory.published or advisory.modified).date()
        for affected in advisory.affected:
            if affected.ecosystem.split(":", 1)[0].lower() != base:
                continue
            for fixed in _fixes(affected):
                patch = BaselinePatch(
                    advisory_id=advisory.id,
                    ecosystem=affected.ecosystem,
                    package=affected.package,
                    fixed=fixed,
                    classification=classification,
                    severity=severity,
                    released=released,
                )
                found.setdefault(patch.key(), patch)
    return [found[k] for k in sorted(found)]


def _listed(entries: tuple[str, ...], patch: BaselinePatch, names: tuple[str, ...]) -> bool:
    for entry in entries:
        if entry in names or entry == f"{patch.package}={patch.fixed}":
            return True
        if "=" not in entry and fnmatchcase(patch.package, entry):
            return True
    return False


def _digest(
    baseline: PatchBaseline, approved: list[BaselinePatch], rejected: list[BaselinePatch]
) -> str:
    body = {
        "baseline": baseline.name,
        "os_family": baseline.os_family,
        "rejected_action": baseline.rejected_action,
        "approved": [list(p.key()) for p in approved],
        "rejected": [list(p.key()) for p in rejected],
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def take_snapshot(
    baseline: PatchBaseline, advisories: Iterable[Advisory], now: datetime
) -> BaselineSnapshot:
    """Freeze which patches the baseline approves and rejects at ``now``.

    Args:
        baseline: The baseline.
        advisories: Every known advisory; those of other ecosystems are skipped.
        now: The moment of the snapshot (``approve_after_days`` counts up to its date).

    Returns:
        The snapshot; its ``id`` depends only on the baseline and the two patch sets.
    """
    today = now.date()
    by_id = {a.id: a for a in advisories}
    approved: list[BaselinePatch] = []
    rejected: list[BaselinePatch] = []
    for patch in candidate_patches(baseline.os_family, by_id.values()):
        names = by_id[patch.advisory_id].names
        if _listed(baseline.rejected, patch, names):
            rejected.append(_with(patch, "rejected list"))
        elif _listed(baseline.approved, patch, names):
            approved.append(_with(patch, "approved list"))
        else:
            rule = next(
                (i for i, r in enumerate(baseline.approval_rules, 1) if r.approves(patch, today)),
                None,
            )
            if rule is not None:
                approved.append(_with(patch, f"rule {rule}"))
    return BaselineSnapshot(
        baseline=baseline.name,
        os_family=baseline.os_family,
        taken_at=now,
        rejected_action=baseline.rejected_action,
        approved=tuple(approved),
        rejected=tuple(rejected),
        id=_digest(baseline, approved, rejected),
    )


def _with(patch: BaselinePatch, why: str) -> BaselinePatch:
    return BaselinePatch(
        advisory_id=patch.advisory_id,
        ecosystem=patch.ecosystem,
        package=patch.package,
        fixed=patch.fixed,
        classification=patch.classification,
        severity=patch.severity,
        released=patch.released,
        approved_by=why,
    )
