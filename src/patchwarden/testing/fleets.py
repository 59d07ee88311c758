"""Generated fleets for holding the fleet-scale assessment to the plain one.

:func:`generated_fleet` builds, from a seed, an estate and a catalog that reach every rule
matching and deciding have: the demo estate's assets (load-balancer pools and clusters for
redundancy, provider-owned layers, every criticality) plus generated hosts on Debian,
Ubuntu, AlmaLinux and Alpine, some sharing one package set; Debian binaries built from
sources of another name and version (binNMUs); advisories with KEV, EPSS, CVSS, vendor
prefixes that classify them, cosmetic summaries, reboots, no fix, ``last_affected``,
Ubuntu's binary lists and withdrawals; earlier failures and first-seen times.

Example:
    >>> fleet = generated_fleet(7, hosts=4)
    >>> len(fleet.inventory.assets) > 4, len(fleet.advisories) > 0
    (True, True)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from patchwarden.assess.match import AdvisoryIndex
from patchwarden.assess.reference import match_reference
from patchwarden.assess.sla import FindingKey
from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent, Severity
from patchwarden.domain.assets import AssetBase, Criticality, Vm
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.service.sources import demo_advisories, demo_inventory

__all__ = ["GeneratedFleet", "generated_fleet"]

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

_ECOSYSTEMS = {
    # OSV ecosystem: (os family, release, version pattern)
    "Debian:12": ("debian", "12", "{a}.{b}.{c}-{r}+deb12u{r}"),
    "Ubuntu:22.04:LTS": ("ubuntu", "22.04", "{a}.{b}.{c}-{r}ubuntu0.22.04.{r}"),
    "AlmaLinux:9": ("alma", "9", "{a}.{b}.{c}-{r}.el9_{r}"),
    "Alpine:v3.19": ("alpine", "3.19", "{a}.{b}.{c}-r{r}"),
}
_LADDER = 8
_SUMMARIES = ("Heap overflow in parser", "Typo in man page", "Denial of service", "")
_PREFIXES = ("GEN", "GEN", "GEN", "RHBA", "RHEA", "RHSA")


@dataclass(frozen=True)
class GeneratedFleet:
    """An estate, a catalog and the history a decision reads."""

    inventory: Inventory
    advisories: list[Advisory]
    failures: dict[tuple[str, str], frozenset[str]]
    first_seen: dict[FindingKey, datetime]
    now: datetime = NOW


def _ladder(pattern: str, rnd: random.Random) -> list[str]:
    a, b, c = rnd.randint(0, 5), rnd.randint(0, 9), 0
    out = []
    for step in range(_LADDER):
        c += rnd.randint(1, 3)
        out.append(pattern.format(a=a, b=b, c=c, r=1 + step % 3))
    return out


def _advisory(n: int, rnd: random.Random, universe: dict[str, dict[str, list[str]]]) -> Advisory:
    affected = []
    for _ in range(1 if rnd.random() < 0.8 else 2):
        eco = rnd.choice(list(universe))
        package = rnd.choice(list(universe[eco]))
        versions = universe[eco][package]
        fix = rnd.randint(1, _LADDER - 1)
        start = RangeEvent(introduced="0" if rnd.random() < 0.7 else versions[max(0, fix - 3)])
        roll = rnd.random()
        events = [start]
        if roll < 0.1:
            pass  # no fix yet
        elif roll < 0.2:
            events.append(RangeEvent(last_affected=versions[fix - 1]))
        else:
            events.append(RangeEvent(fixed=versions[fix]))
        specific: dict[str, Any] = {}
        if eco.startswith("Ubuntu") and rnd.random() < 0.4:
            binaries = [f"{package}-bin{k}" for k in range(2)] + [package]
            specific = {"binaries": [{"binary_name": b, "binary_version": versions[fix]}
                                     for b in rnd.sample(binaries, 2)]}  # fmt: skip
        affected.append(
            Affected(
                ecosystem=eco,
                package=package,
                ranges=(Range(type="ECOSYSTEM", events=tuple(events)),),
                versions=tuple(versions[:fix]) if rnd.random() < 0.2 else (),
                ecosystem_specific=specific,
            )
        )
    prefix = rnd.choice(_PREFIXES)
    scored = rnd.random() < 0.6
    database: dict[str, Any] = {}
    if rnd.random() < 0.1:
        database["classification"] = rnd.choice(["bugfix", "enhancement", "cosmetic"])
    if rnd.random() < 0.1:
        database["severity"] = "HIGH"
    return Advisory(
        id=f"{prefix}-2026-{n:05d}",
        aliases=(f"CVE-2026-{n:05d}",) if rnd.random() < 0.8 else (),
        summary=rnd.choice(_SUMMARIES),
        modified=NOW - timedelta(days=rnd.randint(1, 90)),
        withdrawn=NOW if rnd.random() < 0.03 else None,
        severity=rnd.choice(list(Severity)),
        cvss_score=round(rnd.uniform(1, 10), 1) if scored else None,
        kev=rnd.random() < 0.08,
        kev_due=(NOW + timedelta(days=rnd.randint(-5, 20))).date() if rnd.random() < 0.1 else None,
        epss=round(rnd.random(), 3) if rnd.random() < 0.5 else None,
        reboot_required=rnd.random() < 0.1,
        affected=tuple(affected),
        database_specific=database,
    )


def _packages(
    eco: str, universe: dict[str, dict[str, list[str]]], rnd: random.Random, size: int
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    names = rnd.sample(list(universe[eco]), size)
    packages: dict[str, str] = {}
    sources: dict[str, tuple[str, str]] = {}
    for name in names:
        version = rnd.choice(universe[eco][name][2:])
        if eco.startswith(("Debian", "Ubuntu")) and rnd.random() < 0.3:
            # A binary of another name built from this source; sometimes a binNMU.
            binary = f"{name}-bin{rnd.randint(0, 1)}"
            binary_version = version + ("+b1" if rnd.random() < 0.5 else "")
            packages[binary] = binary_version
            sources[binary] = (name, version)
        else:
            packages[name] = version
    return packages, sources


def generated_fleet(seed: int, hosts: int = 120, advisories: int = 400) -> GeneratedFleet:
    """A fleet and catalog from ``seed`` (see the module's docstring for what it covers)."""
    rnd = random.Random(seed)
    universe = {
        eco: {f"{eco.split(':')[0].lower()}-p{n:03d}": _ladder(pattern, rnd) for n in range(60)}
        for eco, (_, _, pattern) in _ECOSYSTEMS.items()
    }
    catalog = [_advisory(n, rnd, universe) for n in range(advisories)]
    catalog += demo_advisories()
    assets: list[AssetBase] = []
    for asset in demo_inventory().inventory.assets:
        if asset_ecosystem(asset) == "Debian:12" and asset.packages:
            packages, sources = _packages("Debian:12", universe, rnd, 25)
            packages = {**asset.packages, **packages}
            asset = asset.model_copy(update={"packages": packages, "package_sources": sources})
        assets.append(asset)
    shared: dict[str, tuple[dict[str, str], dict[str, tuple[str, str]]]] = {}
    for n in range(hosts):
        eco = rnd.choice(list(_ECOSYSTEMS))
        family, release, _ = _ECOSYSTEMS[eco]
        if eco in shared and rnd.random() < 0.4:
            packages, sources = shared[eco]  # hosts built from one image, untouched
        else:
            packages, sources = _packages(eco, universe, rnd, 30)
            shared.setdefault(eco, (packages, sources))
        assets.append(
            Vm(
                id=f"gen-{n:04d}",
                kind="vm",
                env=rnd.choice(["dev", "qa", "staging", "prod"]),
                criticality=rnd.choice(list(Criticality)),
                internet_facing=rnd.random() < 0.3,
                os={"family": family, "release": release},
                ecosystem=eco if rnd.random() < 0.5 else "",
                packages=packages,
                package_sources=sources,
            )
        )
    inventory = Inventory(environments=("dev", "qa", "staging", "prod"), assets=tuple(assets))
    failures: dict[tuple[str, str], frozenset[str]] = {}
    live = [a for a in catalog if a.withdrawn is None]
    for advisory in rnd.sample(live, 12):
        package = advisory.affected[0].package if advisory.affected else "*"
        key = rnd.choice([(advisory.id, package), (advisory.id, "*"), ("*", package)])
        failures[key] = frozenset(rnd.sample(["dev", "qa", "staging"], rnd.randint(1, 2)))
    # Earlier assessments saw about a third of today's findings, some long ago.
    first_seen: dict[FindingKey, datetime] = {}
    for finding in match_reference(inventory, AdvisoryIndex(catalog)):
        if rnd.random() < 0.35:
            seen = (finding.asset_id, finding.advisory_id, finding.package)
            first_seen[seen] = NOW - timedelta(days=rnd.randint(0, 120), hours=rnd.randint(0, 23))
    return GeneratedFleet(inventory, catalog, failures, first_seen)
