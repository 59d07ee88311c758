"""Match installed packages against advisories: which asset is exposed by what.

Fleets repeat themselves: hundreds of hosts carry the same (package, version). Matching
evaluates each distinct (ecosystem, release, package, version) once and fans the answer out
to every asset that has it, so the cost follows distinct versions, not hosts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from patchwarden.domain.advisories import Advisory, Affected, Finding, Range
from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.versions import compare, ecosystem_for

__all__ = ["AdvisoryIndex", "affected_fix", "asset_ecosystem", "match_findings"]

# OS family -> OSV ecosystem name of its packages.
_FAMILY_ECOSYSTEM = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alma": "AlmaLinux",
    "rocky": "Rocky Linux",
    "rhel": "Red Hat",
    "alpine": "Alpine",
}


def _split(osv_ecosystem: str) -> tuple[str, str]:
    """``"Ubuntu:22.04:LTS"`` -> ``("ubuntu", "22.04")``; no release -> ``""``."""
    base, *rest = osv_ecosystem.split(":")
    release = next((p.lstrip("v") for p in rest if any(c.isdigit() for c in p)), "")
    return base.strip().lower(), release


def asset_ecosystem(asset: AssetBase) -> str:
    """The OSV ecosystem of an asset's packages, e.g. ``Debian:12``; ``""`` if unknown."""
    if asset.ecosystem:
        return asset.ecosystem
    if asset.os is None or asset.os.family not in _FAMILY_ECOSYSTEM:
        return ""
    name = _FAMILY_ECOSYSTEM[asset.os.family]
    return f"{name}:{asset.os.release}" if asset.os.release else name


@dataclass(frozen=True)
class _Entry:
    advisory: Advisory
    affected: Affected
    release: str


class AdvisoryIndex:
    """Advisories indexed by (ecosystem, package) with a cache of version verdicts."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        self._entries: dict[tuple[str, str], list[_Entry]] = defaultdict(list)
        self.advisories: dict[str, Advisory] = {}
        for advisory in advisories:
            if advisory.withdrawn is not None:
                continue
            self.advisories[advisory.id] = advisory
            for affected in advisory.affected:
                base, release = _split(affected.ecosystem)
                self._entries[(base, affected.package)].append(_Entry(advisory, affected, release))
        self._verdicts: dict[tuple[str, str, str, str], list[tuple[Advisory, str]]] = {}

    def lookup(self, osv_ecosystem: str, package: str, version: str) -> list[tuple[Advisory, str]]:
        """Advisories affecting this package version, each with its fixed version (or ``""``)."""
        base, release = _split(osv_ecosystem)
        key = (base, release, package, version)
        cached = self._verdicts.get(key)
        if cached is not None:
            return cached
        scheme = ecosystem_for(base)
        found: list[tuple[Advisory, str]] = []
        for entry in self._entries.get((base, package), ()):
            if entry.release and release and entry.release != release:
                continue
            hit, fixed = affected_fix(scheme, entry.affected, version)
            if hit:
                found.append((entry.advisory, fixed))
        self._verdicts[key] = found
        return found


def affected_fix(scheme: str, affected: Affected, version: str) -> tuple[bool, str]:
    """Whether ``version`` is affected, and the lowest fixed version above it (OSV rules)."""
    if version in affected.versions:
        return True, _lowest_fix(scheme, affected.ranges, version)
    for rng in affected.ranges:
        if rng.type != "GIT" and _in_range(scheme, rng, version):
            return True, _lowest_fix(scheme, (rng,), version)
    return False, ""


def _in_range(scheme: str, rng: Range, version: str) -> bool:
    # The OSV schema's evaluation: walk events in version order, toggling.
    events: list[tuple[str, str]] = []
    for event in rng.events:
        for kind in ("introduced", "fixed", "last_affected"):
            value = getattr(event, kind)
            if value is not None:
                events.append((kind, value))
    affected = False
    for kind, value in sorted(events, key=lambda e: _SortKey(scheme, e[1])):
        if kind == "introduced" and (value == "0" or compare(scheme, version, value) >= 0):
            affected = True
        elif kind == "fixed" and compare(scheme, version, value) >= 0:
            affected = False
        elif kind == "last_affected" and compare(scheme, version, value) > 0:
            affected = False
    return affected


class _SortKey:
    """Orders event versions with the ecosystem's comparator; ``"0"`` sorts first."""

    __slots__ = ("scheme", "value")

    def __init__(self, scheme: str, value: str) -> None:
        self.scheme, self.value = scheme, value

    def __lt__(self, other: _SortKey) -> bool:
        if self.value == "0" or other.value == "0":
            return self.value == "0" and other.value != "0"
        return compare(self.scheme, self.value, other.value) < 0


def _lowest_fix(scheme: str, ranges: Sequence[Range], version: str) -> str:
    fixes = [
        e.fixed
        for r in ranges
        for e in r.events
        if e.fixed is not None and compare(scheme, e.fixed, version) > 0
    ]
    best = ""
    for fix in fixes:
        if not best or compare(scheme, fix, best) < 0:
            best = fix
    return best


def match_findings(inventory: Inventory, index: AdvisoryIndex) -> list[Finding]:
    """Every finding in the inventory, ordered by asset then advisory."""
    findings: list[Finding] = []
    for asset in inventory.assets:
        ecosystem = asset_ecosystem(asset)
        if not ecosystem:
            continue
        for package, version in sorted(asset.packages.items()):
            for advisory, fixed in index.lookup(ecosystem, package, version):
                findings.append(
                    Finding(
                        asset_id=asset.id,
                        advisory_id=advisory.id,
                        package=package,
                        ecosystem=ecosystem,
                        installed=version,
                        fixed=fixed,
                        severity=advisory.severity,
                        cvss_score=advisory.cvss_score,
                        kev=advisory.kev,
                        epss=advisory.epss,
                    )
                )
    return findings
