"""The two risks a decision weighs: of *not* patching, and of patching.

Risk of not patching asks "could an attacker use this, and what would it hit?": severity
and CVSS, exploitation (CISA KEV, EPSS), exposure, how much the business depends on the
asset, and its environment. Risk of patching asks "could the patch break something, and how
much would that hurt?": a reboot, a kernel or core component, the size of the version jump,
the same patch failing in an earlier environment, uptime needs, and whether redundancy lets
the asset leave service. Each risk is points plus the words that earned them, so a decision
can say why in plain language.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from patchwarden.assess.policy import Classification, Policy
from patchwarden.domain.advisories import Advisory, Finding, Severity
from patchwarden.domain.assets import (
    AssetBase,
    Cluster,
    Criticality,
    Image,
    LoadBalancer,
    StorageSystem,
    VirtualAppliance,
)
from patchwarden.domain.inventory import Inventory

__all__ = [
    "ChangeSize",
    "PatchFailures",
    "Redundancy",
    "Score",
    "change_size",
    "classify",
    "failed_envs",
    "needs_reboot",
    "redundancy_of",
    "risk_of_not_patching",
    "risk_of_patching",
]

ChangeSize = Literal["major", "minor", "patch", "revision"]

PatchFailures = Mapping[tuple[str, str], Collection[str]]
"""Environments where a patch failed before, keyed by ``(advisory_id, package)``.

Either part may be ``"*"``: ``("*", "openssl")`` is any openssl update.
"""

# Vendor advisory prefixes that say what kind of update it is (Red Hat and its rebuilds).
_PREFIX_CLASS: dict[str, Classification] = {
    "RHSA": "security",
    "ALSA": "security",
    "RLSA": "security",
    "RHBA": "bugfix",
    "ALBA": "bugfix",
    "RLBA": "bugfix",
    "RHEA": "enhancement",
    "ALEA": "enhancement",
    "RLEA": "enhancement",
}
_COSMETIC_WORDS = re.compile(
    r"\b(typo|spelling|cosmetic|documentation only|translation|man ?page|wording)\b", re.I
)


def classify(advisory: Advisory) -> tuple[Classification, Severity]:
    """The kind of update an advisory is, and its severity.

    An explicit ``database_specific.classification`` wins; then the vendor's advisory
    prefix (``RHBA`` is a bug fix, ``RHEA`` an enhancement); then a summary that only
    touches wording is cosmetic. A non-security update without a CVSS score is ``low``
    unless its record names a severity, because "medium" is only the parser's default.

    Example:
        >>> from datetime import datetime
        >>> classify(Advisory(id="RHBA-2026:1", modified=datetime(2026, 1, 1)))
        ('bugfix', <Severity.LOW: 'low'>)
    """
    stated = advisory.database_specific.get("classification")
    kind: Classification = advisory.classification
    if stated is None:
        prefix = advisory.id.split("-", 1)[0].upper()
        if prefix in _PREFIX_CLASS:
            kind = _PREFIX_CLASS[prefix]
        elif _COSMETIC_WORDS.search(advisory.summary) and advisory.cvss_score is None:
            kind = "cosmetic"
    severity = advisory.severity
    named = advisory.database_specific.get("severity") is not None
    if kind != "security" and advisory.cvss_score is None and not named:
        severity = Severity.NONE if kind == "cosmetic" else Severity.LOW
    return kind, severity


@dataclass(frozen=True)
class Score:
    """Points of one risk and the words that earned them, weightiest first."""

    points: float
    factors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redundancy:
    """Whether an asset can leave service without an outage, and what says so."""

    spare: bool
    how: str = ""


@dataclass(frozen=True)
class _Weighed:
    parts: list[tuple[float, str]] = field(default_factory=list)

    def add(self, points: float, words: str) -> None:
        if points > 0:
            self.parts.append((points, words))

    def total(self) -> float:
        return sum(p for p, _ in self.parts)

    def words(self) -> tuple[str, ...]:
        return tuple(w for _, w in sorted(self.parts, key=lambda p: -p[0]))


def risk_of_not_patching(
    finding: Finding, asset: AssetBase, advisory: Advisory, policy: Policy
) -> Score:
    """Points for leaving the finding open: threat and exposure, scaled by what it would hit.

    Example:
        >>> from datetime import datetime
        >>> from patchwarden.domain.assets import Vm
        >>> vm = Vm(id="web-1", kind="vm", env="prod", internet_facing=True)
        >>> adv = Advisory(id="A-1", modified=datetime(2026, 1, 1), severity="high", kev=True)
        >>> f = Finding(asset_id="web-1", advisory_id="A-1", package="openssl",
        ...             ecosystem="Debian:12", installed="1", fixed="2", severity="high", kev=True)
        >>> risk_of_not_patching(f, vm, adv, Policy())
        Score(points=78.0, factors=('KEV-listed', 'high severity', 'internet-facing'))
    """
    w = policy.not_patching
    _, severity = classify(advisory)
    weighed = _Weighed()
    cvss = f" (CVSS {finding.cvss_score:.1f})" if finding.cvss_score is not None else ""
    weighed.add(w.severity[severity], f"{severity.value} severity{cvss}")
    if finding.kev or advisory.kev:
        weighed.add(w.kev, "KEV-listed")
    epss = finding.epss if finding.epss is not None else advisory.epss
    if epss is not None and epss >= w.epss_high:
        weighed.add(w.epss, f"EPSS {epss:.0%}")
    if asset.internet_facing:
        weighed.add(w.internet_facing, "internet-facing")
    scale = w.criticality[asset.criticality] * w.environment.get(asset.env, 1.0)
    factors = list(weighed.words())
    if asset.criticality == Criticality.CRITICAL:
        factors.append("business-critical asset")
    elif asset.criticality == Criticality.HIGH:
        factors.append("high-criticality asset")
    return Score(round(weighed.total() * scale, 1), tuple(factors))


def needs_reboot(package: str, advisory: Advisory, policy: Policy) -> bool:
    """Whether the update takes effect only after a reboot (kernel, libc, firmware, ...)."""
    patterns = policy.patching.reboot_packages
    return advisory.reboot_required or any(fnmatchcase(package, p) for p in patterns)


def _numbers(version: str) -> tuple[list[int], str]:
    # Drop the epoch, split off a Debian/RPM revision, keep the numeric upstream parts.
    text = version.split(":", 1)[1] if ":" in version.split("-", 1)[0] else version
    upstream, _, revision = text.rpartition("-") if "-" in text else (text, "", "")
    return [int(n) for n in re.findall(r"\d+", upstream)], revision


def change_size(installed: str, fixed: str) -> ChangeSize:
    """How far a version jump goes: major, minor, patch (upstream) or only a revision.

    Example:
        >>> change_size("3.0.11-1~deb12u2", "3.0.15-1~deb12u1")
        'patch'
        >>> change_size("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3")
        'revision'
    """
    old, _ = _numbers(installed)
    new, _ = _numbers(fixed)
    for index, name in enumerate(("major", "minor", "patch")):
        if index >= len(old) or index >= len(new):
            break
        if old[index] != new[index]:
            return name  # type: ignore[return-value]  # one of the Literal's names
    if old[3:] != new[3:]:
        return "patch"
    return "revision"


def failed_envs(failures: PatchFailures, advisory_id: str, package: str) -> frozenset[str]:
    """Environments where this patch failed before (exact, advisory-wide or package-wide)."""
    found: set[str] = set()
    for key in ((advisory_id, package), (advisory_id, "*"), ("*", package)):
        found.update(failures.get(key, ()))
    return frozenset(found)


def risk_of_patching(
    finding: Finding,
    asset: AssetBase,
    advisory: Advisory,
    policy: Policy,
    *,
    redundancy: Redundancy,
    failed_before: Collection[str] = (),
) -> Score:
    """Points for applying the patch now: what could break and how much that would hurt.

    Args:
        finding: The finding the patch fixes.
        asset: The asset it lands on.
        advisory: The advisory (for ``reboot_required``).
        policy: Weights.
        redundancy: Whether the asset can leave service without an outage.
        failed_before: Earlier environments where the same patch failed.
    """
    w = policy.patching
    weighed = _Weighed()
    if failed_before:
        weighed.add(w.failed_earlier, f"failed before in {', '.join(sorted(failed_before))}")
    reboot = needs_reboot(finding.package, advisory, policy)
    if reboot:
        weighed.add(w.reboot, "needs a reboot")
    if any(fnmatchcase(finding.package, p) for p in w.core_packages):
        weighed.add(w.core_component, f"core component {finding.package}")
    if finding.fixed:
        size = change_size(finding.installed, finding.fixed)
        weighed.add(w.change_size[size], f"{size} version change")
    weighed.add(w.uptime[asset.criticality], f"{asset.criticality.value} uptime needs")
    if not redundancy.spare:
        weighed.add(w.no_redundancy, "no redundancy")
    return Score(round(weighed.total(), 1), weighed.words())


def redundancy_of(inventory: Inventory) -> dict[str, Redundancy]:
    """For each asset, whether it can be taken out of service while others carry the load.

    An LB pool member is spare when the pool keeps ``min_healthy`` (default: all but one)
    without it; a cluster member when the cluster stays at or above quorum (default: a
    majority); an appliance with an HA peer; a storage system whose every redundancy group
    has two parts; a blue-green side always (the other side serves); an image always
    (it is patched offline).
    """
    found: dict[str, Redundancy] = {}

    def mark(asset_id: str, how: str) -> None:
        found.setdefault(asset_id, Redundancy(True, how))

    for asset in inventory.assets:
        if isinstance(asset, LoadBalancer):
            for pool in asset.pools:
                if pool.blue_green is not None:
                    for member in (*pool.blue_green.blue, *pool.blue_green.green):
                        mark(member, f"blue-green pool {pool.name}")
                size = len(pool.members)
                need = pool.min_healthy if pool.min_healthy is not None else size - 1
                if size >= 2 and size - 1 >= need:
                    for member in pool.members:
                        mark(member, f"pool {pool.name}: {size} members, {need} must stay up")
        elif isinstance(asset, Cluster):
            size = len(asset.members)
            quorum = asset.quorum if asset.quorum is not None else size // 2 + 1
            if size - 1 >= quorum:
                for member in asset.members:
                    mark(member, f"cluster {asset.id}: {size} nodes, quorum {quorum}")
        elif isinstance(asset, VirtualAppliance) and asset.ha_peer:
            mark(asset.id, f"HA peer {asset.ha_peer}")
            mark(asset.ha_peer, f"HA peer {asset.id}")
        elif isinstance(asset, Image):
            mark(asset.id, "image, patched offline")
        elif isinstance(asset, StorageSystem):
            groups: dict[str, int] = {}
            for part in asset.parts:
                groups[part.redundancy_group] = groups.get(part.redundancy_group, 0) + 1
            if all(n >= 2 for n in groups.values()):
                mark(asset.id, "redundant storage paths")
    for asset in inventory.assets:
        if asset.id not in found:
            found[asset.id] = Redundancy(False)
    return found
