"""Match appliances and storage parts against vendor advisories (CSAF) by firmware.

Rules:

- A virtual appliance is matched by its ``vendor``, ``product`` and ``firmware``; a storage
  part by its ``vendor`` (or the system's), ``product`` and ``firmware``. Names compare
  without regard to case or repeated spaces.
- A statement names one exact version, a vers range (evaluated with ``univers``), or no
  version at all (the whole product).
- Per vulnerability the most specific matching statement wins (exact version over range
  over whole product); on a tie ``known_affected`` wins: a vendor's doubt is exposure.
- A finding is one per (asset or part, document), naming the CVEs that affect it. Its fix is
  the recommended version where the vendor names one, else the smallest vendor-fix version
  above the installed one that the document does not itself list as affected, for every
  CVE (the highest of those); no such version: ``no_fix``.
- ``known_not_affected`` (VEX) is kept by (asset, CVE) with the document and its
  justification: :func:`suppress` turns every decision on a finding whose CVEs are all
  vouched not affected, from any feed, into ``ignore`` saying why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from univers.version_range import VersionRange

from patchwarden.domain.advisories import (
    FIRMWARE,
    Action,
    Advisory,
    Decision,
    Finding,
    firmware_package,
)
from patchwarden.domain.assets import StorageSystem, VirtualAppliance
from patchwarden.domain.inventory import Inventory
from patchwarden.feeds.csaf import CsafStatement, csaf_statements
from patchwarden.versions.firmware import firmware_key

__all__ = ["FirmwareMatch", "Installed", "match_firmware", "suppress"]


@dataclass(frozen=True, slots=True)
class Installed:
    """One firmware that can be matched: an appliance's or a storage part's."""

    asset_id: str
    package: str
    vendor: str
    product: str
    version: str


@dataclass(frozen=True)
class FirmwareMatch:
    """Findings from vendor advisories, and what vendors vouch is not affected."""

    findings: tuple[Finding, ...] = ()
    not_affected: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(asset id, CVE) -> ``"<document>: <justification>"``."""


def installed_firmware(inventory: Inventory) -> list[Installed]:
    """Every appliance's and storage part's firmware, with vendor and product."""
    out: list[Installed] = []
    for asset in inventory.assets:
        if isinstance(asset, VirtualAppliance) and asset.product:
            out.append(Installed(asset.id, FIRMWARE, asset.vendor, asset.product, asset.firmware))
        elif isinstance(asset, StorageSystem):
            for part in asset.parts:
                if part.product:
                    out.append(Installed(asset.id, firmware_package(part.id),
                                         part.vendor or asset.vendor, part.product,
                                         part.firmware))  # fmt: skip
    return out


def _name(text: str) -> str:
    return " ".join(text.casefold().split())


@lru_cache(maxsize=1024)
def _range(vers: str) -> Any:
    try:
        # univers leaves from_string unannotated; it returns a VersionRange or raises.
        return VersionRange.from_string(vers)  # type: ignore[no-untyped-call]  # univers is untyped
    except Exception:  # noqa: BLE001 - univers raises many kinds for a range it cannot read
        return None


def _specificity(statement: CsafStatement, version: str) -> int | None:
    """How specifically a statement names ``version``: 2 exact, 1 range, 0 product; else None."""
    product = statement.product
    if product.version:
        return 2 if _name(product.version) == _name(version) else None
    if product.vers:
        found = _range(product.vers)
        if found is None:
            return None
        try:
            inside = found.version_class(version) in found
        except Exception:  # noqa: BLE001 - a version the range's scheme cannot read: no match
            return None
        return 1 if inside else None
    return None if product.range_text else 0


def _verdicts(statements: Sequence[CsafStatement], item: Installed) -> dict[str, CsafStatement]:
    """CVE -> the statement that settles it for this firmware."""
    best: dict[str, tuple[int, bool, CsafStatement]] = {}
    vendor, product = _name(item.vendor), _name(item.product)
    for s in statements:
        if _name(s.product.vendor) != vendor or _name(s.product.product) != product:
            continue
        rank = _specificity(s, item.version)
        if rank is None:
            continue
        key = (rank, s.status == "known_affected")
        old = best.get(s.cve)
        if old is None or key > old[:2]:
            best[s.cve] = (*key, s)
    return {cve: entry[2] for cve, entry in best.items()}


def _target(statements: Sequence[CsafStatement], affected: Sequence[CsafStatement],
            version: str) -> str:  # fmt: skip
    """The version fixing every affected CVE (see the module rules), or ``""``."""
    bad = {_name(s.product.version) for s in statements
           if s.status == "known_affected" and s.product.version}  # fmt: skip
    now = firmware_key(version)
    targets = []
    for s in affected:
        if s.recommended and firmware_key(s.recommended) > now:
            targets.append(s.recommended)
            continue
        fit = [v for v in s.fixes if firmware_key(v) > now and _name(v) not in bad]
        if not fit:
            return ""
        targets.append(fit[0])
    return max(targets, key=firmware_key) if targets else ""


def match_firmware(inventory: Inventory, advisories: Iterable[Advisory]) -> FirmwareMatch:
    """Findings on appliance and storage-part firmware, and the vendors' not-affected word.

    Example:
        >>> match_firmware(Inventory(assets=()), []).findings
        ()
    """
    items = installed_firmware(inventory)
    findings: list[Finding] = []
    not_affected: dict[tuple[str, str], str] = {}
    for advisory in advisories:
        if advisory.withdrawn is not None:
            continue
        statements = csaf_statements(advisory)
        if not statements:
            continue
        for item in items:
            verdicts = _verdicts(statements, item)
            affected = [s for s in verdicts.values() if s.status == "known_affected"]
            for cve, s in verdicts.items():
                if s.status == "known_not_affected" and item.package == FIRMWARE:
                    why = s.justification or "no justification given"
                    not_affected[(item.asset_id, cve)] = f"{advisory.id}: {why}"
            if affected:
                findings.append(_finding(advisory, statements, affected, item))
    findings.sort(key=lambda f: (f.asset_id, f.package, f.advisory_id))
    return FirmwareMatch(tuple(findings), not_affected)


def _finding(advisory: Advisory, statements: Sequence[CsafStatement],
             affected: Sequence[CsafStatement], item: Installed) -> Finding:  # fmt: skip
    target = _target(statements, affected, item.version)
    top = max(affected, key=lambda s: (s.severity.rank, s.cvss_score or 0.0))
    return Finding(
        asset_id=item.asset_id,
        advisory_id=advisory.id,
        package=item.package,
        ecosystem=FIRMWARE,
        installed=item.version,
        fixed=target,
        severity=top.severity,
        cvss_score=top.cvss_score,
        kev=advisory.kev,
        epss=advisory.epss,
        aliases=tuple(sorted({s.cve for s in affected})),
        kev_due=advisory.kev_due,
        recommended=target,
        no_fix=not target,
    )


def suppress(
    findings: Sequence[Finding],
    decisions: Sequence[Decision],
    not_affected: Mapping[tuple[str, str], str],
) -> list[Decision]:
    """Decisions, with those on findings every CVE of which a vendor vouches for turned to ignore.

    ``findings`` and ``decisions`` are in the same order (as :func:`~patchwarden.assess.\
decide.decide_all` returns them).
    """
    if not not_affected:
        return list(decisions)
    out: list[Decision] = []
    for finding, decision in zip(findings, decisions, strict=True):
        cves = finding.aliases or (finding.advisory_id,)
        whys = [not_affected.get((finding.asset_id, cve)) for cve in cves]
        if all(whys):
            reason = "; ".join(f"{c} not affected per {w}" for c, w in zip(cves, whys, strict=True))
            decision = decision.model_copy(
                update={
                    "action": Action.IGNORE,
                    "reason": f"{reason} → ignore",
                    "due": None,
                    "review": None,
                }  # fmt: skip
            )
        out.append(decision)
    return out
