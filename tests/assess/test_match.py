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
from patchwarden.domain.assets import Vm
from patchwarden.domain.inventory import Inventory
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


# -- source packages (Debian, Ubuntu) ----------------------------------------------------


def _host(
    ident: str, os_family: str, release: str, packages: dict[str, str],
    sources: dict[str, tuple[str, str]],
) -> Vm:  # fmt: skip
    return Vm(
        id=ident,
        kind="vm",
        env="prod",
        os={"family": os_family, "release": release},
        packages=packages,
        package_sources=sources,
    )


def _findings(advisories: list[Advisory], *hosts: Vm) -> list[tuple[str, str, str, str, str]]:
    inventory = Inventory(assets=hosts)
    return [
        (f.asset_id, f.package, f.installed, f.fixed, f.source)
        for f in match_findings(inventory, AdvisoryIndex(advisories))
    ]


OPENSSL_DSA = _adv(
    "DSA-9999-1", "Debian:12", ("introduced", "0"), ("fixed", "3.0.15-1~deb12u1"),
    package="openssl",
)  # fmt: skip


def test_debian_binaries_are_matched_by_their_source_and_patched_by_their_own_name() -> None:
    vulnerable = _host(
        "web-1", "debian", "12",
        {"libssl3": "3.0.11-1~deb12u2+b1", "openssl": "3.0.11-1~deb12u2", "curl": "7.88.1-10"},
        {"libssl3": ("openssl", "3.0.11-1~deb12u2")},
    )  # fmt: skip
    # A binNMU of the fixed source sorts above the fix by its own version, and its source
    # version is the fix: not exposed either way.
    patched = _host(
        "web-2", "debian", "12",
        {"libssl3": "3.0.15-1~deb12u1+b1"},
        {"libssl3": ("openssl", "3.0.15-1~deb12u1")},
    )  # fmt: skip
    assert _findings([OPENSSL_DSA], vulnerable, patched) == [
        ("web-1", "libssl3", "3.0.11-1~deb12u2+b1", "3.0.15-1~deb12u1", "openssl"),
        ("web-1", "openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", ""),
    ]


def test_a_binary_named_like_no_advisory_is_missed_without_its_source() -> None:
    # What matching on binary names alone did: libssl3 has no advisory of its own.
    host = _host("web-1", "debian", "12", {"libssl3": "3.0.11-1~deb12u2"}, {})
    assert _findings([OPENSSL_DSA], host) == []


def test_the_source_version_decides_not_the_binary_version() -> None:
    # bsdutils carries an epoch its source util-linux does not: 1:2.38.1-5 is newer than
    # any fix without an epoch by its own version, but its source is the vulnerable one.
    dsa = _adv(
        "DSA-1", "Debian:12", ("introduced", "0"), ("fixed", "2.38.1-5+deb12u4"),
        package="util-linux",
    )  # fmt: skip
    host = _host(
        "h", "debian", "12",
        {"bsdutils": "1:2.38.1-5+deb12u3"},
        {"bsdutils": ("util-linux", "2.38.1-5+deb12u3")},
    )  # fmt: skip
    assert _findings([dsa], host) == [
        ("h", "bsdutils", "1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u4", "util-linux")
    ]


def test_ubuntu_records_listing_binaries_expose_only_those() -> None:
    # The real record of CVE-2010-5298 lists openssl's binaries on 14.04.
    host = _host(
        "u1", "ubuntu", "14.04",
        {"libssl1.0.0": "1.0.1f-1ubuntu2", "libssl-dev": "1.0.1f-1ubuntu2",
         "openssl-extra": "1.0.1f-1ubuntu2"},
        {"libssl1.0.0": ("openssl", "1.0.1f-1ubuntu2"),
         "libssl-dev": ("openssl", "1.0.1f-1ubuntu2"),
         "openssl-extra": ("openssl", "1.0.1f-1ubuntu2")},
    )  # fmt: skip
    record = next(a for a in _real() if a.id == "CVE-2010-5298")
    found = _findings([record], host.model_copy(update={"ecosystem": "Ubuntu:14.04:LTS"}))
    assert found == [
        ("u1", "libssl-dev", "1.0.1f-1ubuntu2", "1.0.1f-1ubuntu2.1", "openssl"),
        ("u1", "libssl1.0.0", "1.0.1f-1ubuntu2", "1.0.1f-1ubuntu2.1", "openssl"),
    ]


def test_ubuntu_notice_binaries_give_the_binary_target() -> None:
    # Ubuntu's notices list binary_name / binary_version pairs; the listed binary version
    # (here a rebuild, above the source fix) is what apt installs.
    record = _adv(
        "USN-1", "Ubuntu:22.04:LTS", ("introduced", "0"), ("fixed", "3.0.2-0ubuntu1.15"),
        package="openssl",
    )  # fmt: skip
    affected = record.affected[0].model_copy(
        update={
            "ecosystem_specific": {
                "binaries": [{"binary_name": "libssl3", "binary_version": "3.0.2-0ubuntu1.15+b1"}]
            }
        }
    )
    record = record.model_copy(update={"affected": (affected,)})
    host = _host(
        "u2", "ubuntu", "22.04",
        {"libssl3": "3.0.2-0ubuntu1.10", "openssl": "3.0.2-0ubuntu1.10"},
        {"libssl3": ("openssl", "3.0.2-0ubuntu1.10")},
    )  # fmt: skip
    assert _findings([record], host) == [
        ("u2", "libssl3", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.15+b1", "openssl")
    ]


def test_rpm_family_matches_binary_names_and_reports_the_source_rpm() -> None:
    alsa = _adv(
        "ALSA-1", "AlmaLinux:9", ("introduced", "0"), ("fixed", "1:3.0.7-28.el9"),
        package="openssl-libs",
    )  # fmt: skip
    by_source = _adv(
        "ALSA-2", "AlmaLinux:9", ("introduced", "0"), ("fixed", "1:3.0.7-28.el9"),
        package="openssl",
    )  # fmt: skip
    host = _host(
        "r1", "alma", "9",
        {"openssl-libs": "1:3.0.7-27.el9"},
        {"openssl-libs": ("openssl", "3.0.7-27.el9")},
    )  # fmt: skip
    assert _findings([alsa, by_source], host) == [
        ("r1", "openssl-libs", "1:3.0.7-27.el9", "1:3.0.7-28.el9", "openssl")
    ]
