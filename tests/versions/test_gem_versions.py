"""RubyGems versions: test_gem_version.rb's cases, then Ruby's own Gem::Version as oracle.

The oracle is Debian's ruby (RubyGems 3.3), one process for the whole session
(``gem_oracle`` in conftest.py). Gem::Version's ordering is a total order, so the sort
key must agree with it on every pair, and ``parse`` must reject exactly what
``Gem::Version.correct?`` rejects.
"""

from __future__ import annotations

import doctest
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchwarden.errors import InvalidVersion
from patchwarden.versions import compare, ecosystem_for, gem, parse

# (a, b, a <=> b) from test_gem_version.rb: test_spaceship, test_semver, test_equals2,
# test_hash, test_canonical_segments, test_initialize and the sort_key tests.
GOLDEN = [
    ("1.0", "1.0.0", 0), ("1.0", "1.0.a", 1), ("1.8.2", "0.0.0", 1), ("1.8.2", "1.8.2.a", 1),
    ("1.8.2.b", "1.8.2.a", 1), ("1.8.2.a", "1.8.2", -1), ("1.8.2.a10", "1.8.2.a9", 1),
    ("", "0", 0), ("0.beta.1", "0.0.beta.1", 0), ("0.0.beta", "0.0.beta.1", -1),
    ("0.0.beta", "0.beta.1", -1), ("5.a", "5.0.0.rc2", -1), ("5.x", "5.0.0.rc2", 1),
    ("1.9.3", "1.9.3", 0), ("1.9.3", "1.9.2.99", 1), ("1.9.3", "1.9.3.1", -1),
    ("1.0.0-alpha", "1.0.0-alpha.1", -1), ("1.0.0-alpha.1", "1.0.0-beta.2", -1),
    ("1.0.0-beta.2", "1.0.0-beta.11", -1), ("1.0.0-beta.11", "1.0.0-rc.1", -1),
    ("1.0.0-rc1", "1.0.0", -1), ("1.0.0-1", "1", -1),
    ("1.2", "1.2", 0), ("1.2", "1.3", -1), ("1.2.b1", "1.2.b.1", 0), ("1.2", "1.2.0", 0),
    ("1.2.pre.1", "1.2.0.pre.1.0", 0), ("1.0.0.a.1.0", "1.a.1", 0), ("1.2.3-1", "1.2.3.pre.1", 0),
    ("1.0", "1.0 ", 0), ("1.0", " 1.0 ", 0), ("1.0", "1.0\n", 0), ("1.0", "\n1.0\n", 0),
    ("1.0.0", "0.0.1.20220404083012", 1), ("0.7.0", "0.6.63000", 1), ("18.0.1", "18.0.2", -1),
    ("1.freeze.test", "1", -1),
    # Beyond the published cases: byte order of letters, leading zeros, huge numbers.
    ("1.B", "1.a", -1), ("1.01", "1.1", 0), ("1.0.0.0", "1", 0), ("1.a.0.0", "1.a", 0),
    ("1." + "9" * 5000, "1." + "9" * 4999 + "8", 1), ("1.0.a", "1.a", 0), ("1.0.a.1", "1.a", 1),
    ("1-a-b", "1.pre.a.pre.b", 0), ("1.0--", "1.0.pre.pre", 0),
]  # fmt: skip
INVALID = [
    ("junk", "a gem version must start with a number"),
    ("an incorrect version", "spaces are allowed only around the version"),
    ("1.0\n2.0", "spaces are allowed only around the version"),
    ("1..2", "release segments are numbers and letters joined by single dots, first a number"),
    ("1.2 3.4", "spaces are allowed only around the version"),
    (
        "2.3422222.222.222222222.22222.ads0as.dasd0.ddd2222.2.qd3e.",  # CVE-2013-4287
        "release segments are numbers and letters joined by single dots, first a number",
    ),
    ("1a", "release segments are numbers and letters joined by single dots, first a number"),
    ("v1.0", "a gem version must start with a number"),
    ("1.0-", "'-' must be followed by letters, digits or '-', joined by single dots"),
    ("1.0-a..b", "'-' must be followed by letters, digits or '-', joined by single dots"),
    ("1.0+build", "character '+' is not allowed in a gem version"),
    ("1.0_1", "character '_' is not allowed in a gem version"),
    ("١.0", "character '١' is not allowed in a gem version"),
]
PRERELEASE = ["1.2.0.a", "2.9.b", "22.1.50.0.d", "1.2.d.42", "1.A", "1-1", "1-a"]
RELEASE = ["1.2.0", "2.9", "22.1.50.0", "", " 1 "]


@pytest.mark.parametrize(("a", "b", "expected"), GOLDEN)
def test_golden(a: str, b: str, expected: int) -> None:
    assert compare("gem", a, b) == expected
    assert compare("RubyGems", b, a) == -expected


def test_golden_cases_hold_for_the_installed_rubygems(gem_oracle) -> None:
    answers = gem_oracle.compare([(a, b) for a, b, _ in GOLDEN])
    assert [(a, b, got) for (a, b, _), got in zip(GOLDEN, answers, strict=True)] == GOLDEN


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        gem.parse(text)
    assert caught.value.reason == reason


def test_invalid_cases_are_invalid_for_rubygems(gem_oracle) -> None:
    assert gem_oracle.parse([t for t, _ in INVALID]) == [None] * len(INVALID)


def test_version_text_and_prerelease(gem_oracle) -> None:
    texts = PRERELEASE + RELEASE + ["1.0-rc1", "  ", "\t1.0.0-beta.1\n"]
    ours = [(v.version, v.prerelease) for v in map(gem.parse, texts)]
    assert ours == gem_oracle.parse(texts)
    assert [p for _, p in ours] == [True] * len(PRERELEASE) + [False] * len(RELEASE) + [
        True,
        False,
        True,
    ]


def test_names() -> None:
    assert ecosystem_for("RubyGems") == ecosystem_for("rubygems") == ecosystem_for("gem") == "gem"
    assert repr(parse("RubyGems", "1.0")) == "GemVersion('1.0')"
    assert parse("gem", "") == parse("gem", "0.0")


def test_real_advisory_versions(gem_oracle) -> None:
    found: set[str] = set()
    for path in (Path(__file__).parent.parent / "data" / "osv").rglob("*.json"):
        for affected in json.loads(path.read_text(encoding="utf-8")).get("affected", []):
            if affected.get("package", {}).get("ecosystem") == "RubyGems":
                found.update(affected.get("versions", []))
                for rng in affected.get("ranges", []):
                    for event in rng["events"]:
                        found.update(event.values())
    assert len(found) > 100
    pairs = list(itertools.product(sorted(found), repeat=2))
    expected = gem_oracle.compare(pairs)
    assert [compare("gem", a, b) for a, b in pairs] == expected


_parts = st.sampled_from(
    ["0", "1", "2", "00", "01", "10", "99", "18446744073709551616"]
    + ["a", "b", "z", "A", "B", "pre", "rc", "alpha", "beta", "x1", "1a", "0b"]
)
_separators = st.sampled_from([".", ".", "-", "", "..", "--", " ", "_"])
_tricky = st.builds(
    lambda lead, items, trail: lead + "".join(p + s for p, s in items) + trail,
    st.sampled_from(["", "", "", " ", "\n", "\t "]),
    st.lists(st.tuples(_parts, _separators), min_size=0, max_size=6),
    st.sampled_from(["", "", "", " ", "\n"]),
)
_plausible = st.builds(
    lambda numbers, pre: ".".join(numbers) + pre,
    st.lists(st.sampled_from(["0", "1", "2", "10", "00"]), min_size=1, max_size=4),
    st.sampled_from(["", "", ".a", ".b1", ".pre", ".rc.1", "-rc1", "-1", "-beta.2", ".0.a.0"]),
)
gem_versions = st.one_of(_tricky, _plausible)


@settings(max_examples=150, deadline=None, database=None)
@given(pool=st.lists(gem_versions, min_size=30, max_size=30))
def test_generated_versions_agree_with_rubygems(pool: list[str], gem_oracle) -> None:
    parsed = gem_oracle.parse(pool)
    for text, expected in zip(pool, parsed, strict=True):
        try:
            version = gem.parse(text)
        except InvalidVersion:
            assert expected is None, text
        else:
            assert (version.version, version.prerelease) == expected, text
    valid = [t for t, p in zip(pool, parsed, strict=True) if p is not None]
    pairs = list(itertools.product(valid, repeat=2))
    expected_order = gem_oracle.compare(pairs)
    assert [compare("gem", a, b) for a, b in pairs] == expected_order


def test_documented_examples_hold() -> None:
    failed, tried = doctest.testmod(gem)
    assert (failed, tried > 0) == (0, True)
