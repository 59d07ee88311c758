"""The straightforward assessment, kept as the oracle the fleet-scale path is held to.

:func:`~patchwarden.assess.assessment.assess` takes short cuts that only pay at fleet
scale: hosts are interned into a table, findings and decisions are built once per distinct
case and copied to every host that shares it, values are built without revalidation. This
module does the same work the plain way, one host, one package, one finding at a time,
every value validated, every finding decided on its own by
:func:`~patchwarden.assess.decide.decide`. The tests require both to give byte-identical
findings and decisions on generated fleets, and ``bench_assess`` times both in the same
run, so every speed-up is a ratio against this path rather than a claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from patchwarden.assess.assessment import Assessment
from patchwarden.assess.decide import DecisionContext, decide
from patchwarden.assess.match import AdvisoryIndex, split_ecosystem
from patchwarden.assess.policy import Policy
from patchwarden.assess.risk import PatchFailures
from patchwarden.assess.sla import FindingKey
from patchwarden.assess.sources import source_keyed
from patchwarden.domain.advisories import Advisory, Finding
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory

__all__ = ["assess_reference", "match_reference"]


def match_reference(inventory: Inventory, index: AdvisoryIndex) -> list[Finding]:
    """Every finding, host by host and package by package, ordered by asset, package, advisory.

    Where the ecosystem's advisories name source packages (Debian, Ubuntu), a binary is
    looked up as its source at the source's version and the verdict turned back into the
    binary's, as :meth:`~patchwarden.assess.match.AdvisoryIndex.for_binary` states.
    """
    findings: list[Finding] = []
    for asset in inventory.assets:
        ecosystem = asset_ecosystem(asset)
        if not ecosystem or not asset.packages:
            continue
        keyed = source_keyed(split_ecosystem(ecosystem)[0])
        for package in sorted(asset.packages):
            version = asset.packages[package]
            source = asset.package_sources.get(package) if keyed else None
            looked_up = (ecosystem, *source) if source else (ecosystem, package, version)
            exposure = index.exposures([looked_up])[0]
            if exposure.hits and keyed:
                exposure = index.for_binary(
                    ecosystem, package, version, source or (package, version), exposure
                )
            named_source, source_version = asset.package_sources.get(package, ("", ""))
            for hit in exposure.hits:
                advisory = hit.advisory
                findings.append(
                    Finding(
                        asset_id=asset.id,
                        advisory_id=advisory.id,
                        package=package,
                        ecosystem=ecosystem,
                        installed=version,
                        source=named_source,
                        source_version=source_version,
                        fixed=hit.fixed,
                        severity=advisory.severity,
                        cvss_score=advisory.cvss_score,
                        kev=advisory.kev,
                        epss=advisory.epss,
                        aliases=advisory.cves,
                        kev_due=advisory.kev_due,
                        recommended=exposure.recommended,
                        no_fix=not hit.fixed,
                    )
                )
    return findings


def assess_reference(
    inventory: Inventory,
    advisories: Iterable[Advisory],
    now: datetime,
    policy: Policy | None = None,
    *,
    failures: PatchFailures | None = None,
    first_seen: Mapping[FindingKey, datetime] | None = None,
) -> Assessment:
    """What :func:`~patchwarden.assess.assessment.assess` returns, worked out the plain way."""
    index = AdvisoryIndex(advisories)
    findings = match_reference(inventory, index)
    context = DecisionContext.of(inventory, failures, first_seen)
    p = policy or Policy()
    by_id = inventory.by_id
    decisions = [
        decide(f, by_id[f.asset_id], index.advisories[f.advisory_id], now, p, context)
        for f in findings
    ]
    return Assessment(now, tuple(findings), tuple(decisions))
