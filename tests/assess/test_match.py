"""Matching: real records, release rules, recommended targets, fleet fan-out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from patchwarden.assess.match import (
    AdvisoryIndex,
    InstalledTable,
    match_findings,
    match_table,
    split_ecosystem,
)
from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent
from patchwarden.feeds.osv import parse_osv
from patchwarden.service.sources import demo_advisories, demo_inventory

OSV = Path(__file__).parent.parent / "data" / "osv"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _real() -> list[Advisory]:
    return [parse_osv(json.loads(p.read_text())) for p in sorted(OSV.rglob("*.json"))]


def _adv(ident: str, ecosystem: str, *events: tuple[str, str], package: str = "lib") -> Advisory:
    rng = Range(type="ECOSYSTEM", events=tuple(RangeEvent(**{k: v}) for k, v in events))
    return Advisory(
        id=ident,
        modified=NOW,
        affected=(Affected(ecosystem=ecosystem, package=package, ranges=(rng,)),),
    )


def test_split_ecosystem_normalises_releases() -> None:
    assert split_ecosystem("Ubuntu:Pro:16.04:LTS") == ("ubuntu", "16.04")
    assert split_ecosystem("Debian:12.5") == ("debian", "12")
    assert split_ecosystem("Alpine:v3.19.1") == ("alpine", "3.19")
    assert split_ecosystem("PyPI") == ("pypi", "")


def test_real_ubuntu_and_almalinux_lookups() -> None:
    index = AdvisoryIndex(_real())
    hits = index.lookup("Ubuntu:16.04:LTS", "netqmail", "1.06-5")
    assert [(a.id, fix) for a, fix in hits] == [("CVE-2005-1514", "1.06-6.2~deb10u1build0.16.04.1")]
    assert index.lookup("Ubuntu:16.04:LTS", "netqmail", "1.06-6.2~deb10u1build0.16.04.1") == []
    alma = index.lookup("AlmaLinux:9", "avahi", "0.8-12.el9")
    assert alma == []  # ALSA-2025:16441 is for AlmaLinux 10 only
    alma10 = index.lookup("AlmaLinux:10", "avahi", "0.9~rc1-1.el10")
    assert [(a.id, fix) for a, fix in alma10] == [("ALSA-2025:16441", "0.9~rc2-1.el10_0.1")]


def test_withdrawn_advisories_are_ignored() -> None:
    withdrawn = _adv("W-1", "PyPI", ("introduced", "0")).model_copy(update={"withdrawn": NOW})
    assert AdvisoryIndex([withdrawn]).lookup("PyPI", "lib", "1.0") == []


def test_recommended_target_fixes_every_finding() -> None:
    # A is fixed on two branches (1.5 and 2.1), B only in 2.0: 1.5 still has B, 2.0 has A.
    a = _adv(
        "A", "PyPI", ("introduced", "0"), ("fixed", "1.5"), ("introduced", "2.0"), ("fixed", "2.1")
    )
    b = _adv("B", "PyPI", ("introduced", "0"), ("fixed", "2.0"))
    c = _adv("C", "PyPI", ("introduced", "1.0"))  # no fix yet
    index = AdvisoryIndex([a, b, c])
    (exposure,) = index.exposures([("PyPI", "lib", "1.2")])
    assert [(h.advisory.id, h.fixed) for h in exposure.hits] == [
        ("A", "1.5"),
        ("B", "2.0"),
        ("C", ""),
    ]
    assert exposure.recommended == "2.1"
    assert exposure.no_fix


def test_available_versions_are_candidates() -> None:
    a = _adv("A", "Debian:12", ("introduced", "0"), ("fixed", "1.5-1"))
    index = AdvisoryIndex(
        [a], available={("Debian:12", "lib"): ["1.4-1", "1.5-1~deb12u1", "1.6-1"]}
    )
    # 1.5-1~deb12u1 sorts before the fix 1.5-1, so it is not a target; the fix itself is.
    (exposure,) = index.exposures([("Debian:12", "lib", "1.2-1")])
    assert exposure.recommended == "1.5-1"
    index = AdvisoryIndex([a], available={("Debian:12", "lib"): ["1.5-2"]})
    assert index.exposures([("Debian:12", "lib", "1.2-1")])[0].recommended == "1.5-1"


def test_release_rules() -> None:
    old = _adv("U-1", "Ubuntu:20.04:LTS", ("introduced", "0"), ("fixed", "1.0-1"))
    anywhere = _adv("D-1", "Debian", ("introduced", "0"), ("fixed", "1.0-1"))
    index = AdvisoryIndex([old, anywhere])
    assert index.lookup("Ubuntu:22.04:LTS", "lib", "0.9-1") == []
    assert [a.id for a, _ in index.lookup("Ubuntu:20.04", "lib", "0.9-1")] == ["U-1"]
    assert [a.id for a, _ in index.lookup("Debian:12", "lib", "0.9-1")] == ["D-1"]


def test_invalid_installed_version_matches_only_listed_versions() -> None:
    listed = Advisory(
        id="L-1",
        modified=NOW,
        affected=(Affected(ecosystem="PyPI", package="lib", versions=("not valid!",)),),
    )
    ranged = _adv("R-1", "PyPI", ("introduced", "0"))
    index = AdvisoryIndex([listed, ranged])
    assert [a.id for a, _ in index.lookup("PyPI", "lib", "not valid!")] == ["L-1"]


def test_table_dedupes_tuples_and_fans_out() -> None:
    index = AdvisoryIndex([_adv("A", "Debian:12", ("introduced", "0"), ("fixed", "2.0-1"))])
    table = InstalledTable()
    for n in range(50):
        table.add_host(f"h{n}", "Debian:12", {"lib": "1.0-1" if n % 2 else "2.0-1", "other": "1"})
    assert len(table.tuples) == 3 and table.rows == 100
    result = match_table(table, index)
    assert result.count == 25
    hosts = [host for host, _, _ in result.rows()]
    assert hosts == [f"h{n}" for n in range(1, 50, 2)]


def test_match_findings_on_the_demo_estate() -> None:
    inventory = demo_inventory().inventory
    findings = match_findings(inventory, AdvisoryIndex(demo_advisories()))
    assert findings
    order = {asset.id: n for n, asset in enumerate(inventory.assets)}
    keys = [(order[f.asset_id], f.package, f.advisory_id) for f in findings]
    assert keys == sorted(keys)  # inventory order, then package, then advisory
    for finding in findings:
        assert finding.no_fix == (not finding.fixed)
        if finding.fixed:
            assert finding.recommended
