"""KEV, EPSS, archive and kind detection on the real samples; OSV errors and edge cases."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from feeds_testdata import EPSS_CSV, KEV_CSV, KEV_JSON, OSV_FILES, load

from patchwarden.domain.advisories import Advisory
from patchwarden.feeds.archive import iter_json_records, iter_osv_zip
from patchwarden.feeds.detect import FeedKind, detect_kind
from patchwarden.feeds.epss import mark_epss, parse_epss
from patchwarden.feeds.kev import apply_kev, parse_kev_catalog, parse_kev_csv
from patchwarden.feeds.osv import InvalidRecord, parse_osv
from patchwarden.feeds.ranges import is_affected

BASE = {"id": "TEST-1", "modified": "2024-05-01T00:00:00Z"}


def _osv(**fields: object) -> dict[str, object]:
    return {**BASE, **fields}


def _pkg(*ranges: dict[str, object], ecosystem: str = "PyPI", **more: object) -> object:
    return {"package": {"ecosystem": ecosystem, "name": "demo"}, "ranges": list(ranges), **more}


def test_kev_json_sample() -> None:
    catalog = parse_kev_catalog(load(KEV_JSON))
    assert catalog.version == "2025.08.25"
    assert len(catalog.entries) == 82
    git = catalog.entries["CVE-2025-48384"]
    assert git.due == date(2025, 9, 15) and git.vendor == "Git"
    assert sum(e.ransomware for e in catalog.entries.values()) == 12


def test_kev_csv_sample_agrees_with_json() -> None:
    from_csv = parse_kev_csv(KEV_CSV.read_text(encoding="utf-8"))
    assert from_csv.due_dates == parse_kev_catalog(load(KEV_JSON)).due_dates


def test_kev_bad_entry_is_skipped_with_a_warning() -> None:
    raw = load(KEV_JSON)
    raw["vulnerabilities"][3]["dueDate"] = "soon"
    warnings: list[str] = []
    catalog = parse_kev_catalog(raw, warnings)
    assert len(catalog.entries) == 81
    (warning,) = warnings
    assert raw["vulnerabilities"][3]["cveID"] in warning and "dueDate" in warning


def test_kev_skipped_rows_are_named_by_index_and_csv_line() -> None:
    catalog = {"vulnerabilities": [{"cveID": "CVE-1"}, "junk", {"cveID": ""}]}
    warnings: list[str] = []
    assert list(parse_kev_catalog(catalog, warnings).entries) == ["CVE-1"]
    assert warnings == [
        "skipped KEV vulnerabilities[1]: not an object",
        "skipped KEV vulnerabilities[2]: missing 'cveID'",
    ]
    text = "cveID,dueDate\nCVE-1,2025-01-02\nCVE-2,soon\n,2025-01-03\n"
    warnings = []
    assert list(parse_kev_csv(text, warnings).entries) == ["CVE-1"]
    assert warnings == [
        "skipped KEV entry CVE-2: dueDate: not a YYYY-MM-DD date: 'soon'",
        "skipped KEV CSV line 4: missing 'cveID'",
    ]
    with pytest.raises(InvalidRecord, match=r"KEV CSV line 4"):  # csv skips the blank line 3
        parse_kev_csv("cveID\nCVE-1\n\n,\n")


def test_kev_marks_by_alias_and_upstream() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    advisories = [
        Advisory(id="USN-1", upstream=("CVE-2025-48384",), modified=now),
        Advisory(id="GHSA-x", aliases=("CVE-0000-0001",), modified=now),
    ]
    marked = apply_kev(advisories, parse_kev_catalog(load(KEV_JSON)).due_dates)
    assert (marked[0].kev, marked[0].kev_due) == (True, date(2025, 9, 15))
    assert not marked[1].kev


def test_epss_sample_plain_and_gzip() -> None:
    data = EPSS_CSV.read_bytes()
    for given in (data, gzip.compress(data), data.decode()):
        scores = parse_epss(given)
        assert scores.model_version == "v2026.06.15"
        assert scores.score_date == datetime(2026, 9, 29, 12, 0, 22, tzinfo=UTC)
        assert len(scores.scores) == 40
        assert scores.scores["CVE-1999-0001"] == (0.03351, 0.88255)


def test_epss_old_header_with_offset() -> None:
    text = "#model_version:v2023.03.01,score_date:2024-01-15T00:00:00+0000\ncve,epss,percentile\n"
    scores = parse_epss(text + "CVE-2024-1,0.00043,0.05000\n")
    assert scores.score_date == datetime(2024, 1, 15, tzinfo=UTC)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    marked = mark_epss(Advisory(id="X", aliases=("CVE-2024-1",), modified=now), scores.scores)
    assert (marked.epss, marked.epss_percentile) == (0.00043, 0.05)


def test_epss_bad_row_names_its_line() -> None:
    text = "cve,epss,percentile\nCVE-1,0.1,0.2\nCVE-2,1.5,0.2\n"
    with pytest.raises(InvalidRecord, match="line 3: epss 1.5 is outside"):
        parse_epss(text)
    warnings: list[str] = []
    assert list(parse_epss(text, warnings).scores) == ["CVE-1"]
    assert len(warnings) == 1


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_all_zip_of_the_real_records() -> None:
    data = _zip({p.name: p.read_bytes() for p in OSV_FILES})
    assert detect_kind("all.zip", data) is FeedKind.OSV_ZIP
    ids = {parse_osv(r).id for _, raw in iter_osv_zip(data) for r in iter_json_records("x", raw)}
    assert len(ids) == 106
    with pytest.raises(InvalidRecord, match="not a zip"):
        list(iter_osv_zip(b"PK\x03\x04garbage"))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (KEV_JSON.read_bytes(), FeedKind.KEV_JSON),
        (KEV_CSV.read_bytes(), FeedKind.KEV_CSV),
        (EPSS_CSV.read_bytes(), FeedKind.EPSS_CSV),
        (gzip.compress(EPSS_CSV.read_bytes()), FeedKind.EPSS_CSV),
        (OSV_FILES[0].read_bytes(), FeedKind.OSV_JSON),
        (b"[]", FeedKind.OSV_JSON),
    ],
)
def test_detect_kind(data: bytes, kind: FeedKind) -> None:
    assert detect_kind("f", data) is kind


def test_detect_unknown_names_the_file() -> None:
    with pytest.raises(InvalidRecord, match="notes.txt: not a feed"):
        detect_kind("notes.txt", b"hello")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"modified": "2024-01-01T00:00:00Z"}, "without an 'id'"),
        ({"id": "X"}, "OSV record X: modified: missing"),
        (_osv(modified="yesterday"), "TEST-1: modified: not an RFC 3339 time"),
        (_osv(affected=[_pkg({"type": "RANGE", "events": []})]), r"affected\[0\].ranges\[0\].type"),
        (
            _osv(affected=[_pkg({"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]})]),
            "needs an 'introduced' event",
        ),
        (
            _osv(affected=[_pkg({"type": "ECOSYSTEM", "events": [{"introduced": "0", "x": 1}]})]),
            r"events\[0\]: must be an object with exactly one",
        ),
        (
            _osv(
                affected=[_pkg({"type": "ECOSYSTEM", "events": [{"introduced": "not a version!"}]})]
            ),
            r"affected\[0\].ranges\[0\].events\[0\]: not a valid PyPI version",
        ),
        (
            _osv(severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}]),
            r"severity\[0\]: invalid CVSS",
        ),
        (_osv(aliases="CVE-1"), "aliases: must be a list"),
        (_osv(affected=[_pkg({"type": "GIT", "events": [{"introduced": "abc"}]})]), "repo"),
    ],
)
def test_malformed_records_name_id_and_field(record: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRecord, match=message):
        parse_osv(record)


def test_withdrawn_related_git_and_limit() -> None:
    git = {
        "type": "GIT",
        "repo": "https://github.com/x/y",
        "events": [{"introduced": "0"}, {"fixed": "abc123"}, {"limit": "def456"}],
    }
    eco = {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "2.0"}]}
    advisory = parse_osv(
        _osv(
            withdrawn="2024-06-01T00:00:00Z",
            related=["CVE-2024-1"],
            affected=[_pkg(git, eco, ecosystem="PyPI")],
        )
    )
    assert advisory.withdrawn == datetime(2024, 6, 1, tzinfo=UTC)
    assert advisory.related == ("CVE-2024-1",)
    assert advisory.affected[0].ranges[0].repo == "https://github.com/x/y"
    assert advisory.affected[0].ranges[0].events[2].limit == "def456"
    entry = advisory.affected[0]
    assert is_affected(entry, "1.5") == (True, "")
    assert is_affected(entry, "2.0") == (False, "")  # the limit caps the open range
    assert is_affected(entry, "0.9") == (False, "")
    assert is_affected(entry, "abc123") == (False, "")  # commits never match versions


def test_last_affected_and_semver_ranges() -> None:
    last = {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "1.4.0"}]}
    semver = {"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"fixed": "2.1.0-rc.1"}]}
    entry = parse_osv(_osv(affected=[_pkg(last, semver, ecosystem="npm")])).affected[0]
    assert is_affected(entry, "1.4.0") == (True, "")
    assert is_affected(entry, "1.4.1") == (False, "")
    assert is_affected(entry, "2.1.0-beta.1") == (True, "2.1.0-rc.1")
    assert is_affected(entry, "2.1.0") == (False, "")


def test_unknown_ecosystem_uses_the_versions_list_only() -> None:
    raw = _osv(
        affected=[
            _pkg(
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]},
                ecosystem="Packagist",
                versions=["1.0", "1.5"],
            )
        ]
    )
    entry = parse_osv(raw).affected[0]
    assert is_affected(entry, "1.5") == (True, "")
    assert is_affected(entry, "1.7") == (False, "")  # not listed; no Packagist ordering to say more
