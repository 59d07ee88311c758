"""Every real OSV record parses, and range evaluation agrees with each record's own lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from feeds_testdata import OSV_FILES, load, record

from patchwarden.domain.advisories import Affected, Severity
from patchwarden.feeds.osv import parse_osv
from patchwarden.feeds.ranges import is_affected, scheme_of
from patchwarden.versions import compare


def test_all_106_records_are_there() -> None:
    assert len(OSV_FILES) == 106


@pytest.mark.parametrize("path", OSV_FILES, ids=lambda p: p.stem)
def test_every_real_record_parses(path: Path) -> None:
    raw = load(path)
    advisory = parse_osv(raw)
    assert advisory.id == raw["id"]
    assert advisory.modified.tzinfo is not None
    assert len(advisory.affected) == len(raw["affected"])
    assert advisory.related == tuple(raw.get("related", ()))
    for parsed, given in zip(advisory.affected, raw["affected"], strict=True):
        assert parsed.versions == tuple(given.get("versions", ()))
        assert [r.type for r in parsed.ranges] == [r["type"] for r in given.get("ranges", ())]


def _ranges_only(affected: Affected) -> Affected:
    return affected.model_copy(update={"versions": ()})


LISTED = [
    (path.stem, i)
    for path in OSV_FILES
    for i, a in enumerate(load(path)["affected"])
    if a.get("versions") and a.get("ranges")
]


def test_51_records_have_both_a_range_and_a_versions_list() -> None:
    assert len({stem for stem, _ in LISTED}) == 51


@pytest.mark.parametrize(("stem", "index"), LISTED, ids=[f"{s}-{i}" for s, i in LISTED])
def test_ranges_agree_with_the_versions_list(stem: str, index: int) -> None:
    affected = parse_osv(record(stem)).affected[index]
    if not scheme_of(affected.ecosystem):
        pytest.skip(f"no version ordering for {affected.ecosystem} in patchwarden.versions")
    ranges = _ranges_only(affected)
    for version in affected.versions:
        assert is_affected(ranges, version)[0], f"{version} is listed but not in the ranges"
    # Just outside: every fix version, and anything below a non-zero introduced version.
    scheme = scheme_of(affected.ecosystem)
    for rng in affected.ranges:
        for event in rng.events:
            if event.fixed is not None:
                assert not is_affected(ranges, event.fixed)[0]
                assert event.fixed not in affected.versions
            if event.introduced not in (None, "0"):
                below = [v for v in affected.versions if compare(scheme, v, event.introduced) < 0]
                assert not below


def test_ubuntu_epoch_and_no_epoch_in_one_list() -> None:
    # CVE-2009-1143: 14.04 lists 2013.09.16-... and 2:9.4.0-...; the epoch makes 2:9.4 newer.
    (entry,) = [
        a
        for a in parse_osv(record("CVE-2009-1143")).affected
        if a.ecosystem == "Ubuntu:Pro:14.04:LTS"
    ]
    assert compare("deb", "2:9.4.0-1280544-5", "2013.09.16-1328054-0ubuntu6") == 1
    assert is_affected(entry, "2013.09.16-1328054-0ubuntu1") == (True, "")
    assert is_affected(entry, "2:9.4.0-1280544-5ubuntu6.4") == (True, "")  # no fix yet


def test_ubuntu_tilde_inside_upstream_version() -> None:
    # CVE-2009-3560: coin3 3.1.4~abc9f50 sorts before 3.1.4.
    advisory = parse_osv(record("CVE-2009-3560"))
    (entry,) = [
        a
        for a in advisory.affected
        if a.package == "coin3" and a.ecosystem == "Ubuntu:Pro:16.04:LTS"
    ]
    assert compare("deb", "3.1.4~abc9f50+dfsg1-1", "3.1.4") == -1
    assert is_affected(entry, "3.1.4~abc9f50+dfsg1-1ubuntu0.1~esm1")[0]


def test_ubuntu_letters_in_upstream_version() -> None:
    # CVE-2009-3850: blender 2.79.b+dfsg0 is newer than 2.79+dfsg0.
    assert compare("deb", "2.79.b+dfsg0-1", "2.79+dfsg0-3build1") == 1
    for entry in parse_osv(record("CVE-2009-3850")).affected:
        for version in entry.versions:
            assert is_affected(_ranges_only(entry), version)[0]


def test_ubuntu_backported_debian_fix_with_esm_suffix() -> None:
    # CVE-2005-1514: fixed in 1.06-6.2~deb10u1build0.14.04.1+esm1 on 14.04 ESM.
    (entry,) = [
        a
        for a in parse_osv(record("CVE-2005-1514")).affected
        if a.ecosystem == "Ubuntu:Pro:14.04:LTS"
    ]
    fix = "1.06-6.2~deb10u1build0.14.04.1+esm1"
    assert is_affected(entry, "1.06-5") == (True, fix)
    assert is_affected(entry, "1.06-6.2~deb10u1build0.14.04.1") == (True, fix)  # before +esm1
    assert is_affected(entry, fix) == (False, "")
    assert is_affected(entry, "1.06-6.2") == (False, "")  # ~deb10u1 sorts before 1.06-6.2


def test_fixed_range_with_empty_versions_list() -> None:
    # CVE-2010-2058: versions [] must not be read as "nothing is affected".
    entry = parse_osv(record("CVE-2010-2058")).affected[0]
    assert entry.versions == ()
    assert is_affected(entry, "1.0.0-1.2") == (True, "1.0.0-1.3")
    assert is_affected(entry, "1.0.0-1.3") == (False, "")


def test_introduced_zero_only_means_no_fix_yet() -> None:
    entry = parse_osv(record("UBUNTU-CVE-2025-38094")).affected[0]
    assert is_affected(entry, "3.13.0-206.257") == (True, "")
    assert is_affected(entry, "99.0-1") == (True, "")


def test_almalinux_epoch_module_stream_and_tilde_fixes() -> None:
    psycopg = parse_osv(record("ALSA-2021_1761")).affected[0]
    fix = "2.7.5-7.module_el8.6.0+2781+fed64c13"
    assert is_affected(psycopg, "2.7.5-6.module_el8.6.0+2781+fed64c13") == (True, fix)
    assert not is_affected(psycopg, fix)[0]
    avahi = parse_osv(record("ALSA-2025_16441")).affected[0]
    assert is_affected(avahi, "0.9~rc1-1.el10") == (True, "0.9~rc2-1.el10_0.1")
    assert is_affected(avahi, "0.9~rc2-1.el10_0.1") == (False, "")
    assert is_affected(avahi, "0.9-1.el10") == (False, "")  # ~rc2 is before the release
    epoch = [
        a
        for adv in OSV_FILES
        if adv.parent.name == "almalinux"
        for a in parse_osv(load(adv)).affected
        if any(e.fixed and e.fixed.startswith("1:") for r in a.ranges for e in r.events)
    ]
    assert epoch
    fix = epoch[0].ranges[0].events[1].fixed
    assert fix is not None
    # Without the epoch, any version is older than the fix.
    assert is_affected(epoch[0], "99.0-1.el8")[0]
    assert not is_affected(epoch[0], f"2:{fix.split(':', 1)[1]}")[0]


def test_severity_from_cvss_and_from_words() -> None:
    tomcat = parse_osv(record("GHSA-wm9w-rjj3-j356"))  # has v3 and v4 vectors
    assert tomcat.cvss_vector.startswith("CVSS:4")
    assert tomcat.cvss_score is not None
    ubuntu = parse_osv(record("UBUNTU-CVE-2025-38094"))  # {"type": "Ubuntu", "score": "medium"}
    assert ubuntu.severity is Severity.MEDIUM
    assert ubuntu.upstream == ("CVE-2025-38094",)
    assert "CVE-2025-38094" in ubuntu.cves
    prewikka = parse_osv(record("CVE-2010-2058"))  # ubuntu_priority in ecosystem_specific
    assert prewikka.affected[0].ecosystem_specific["ubuntu_priority"] == "medium"
    ghsa = parse_osv(record("GHSA-2rvv-w9r2-rg7m"))
    assert ghsa.database_specific["github_reviewed"] is True
