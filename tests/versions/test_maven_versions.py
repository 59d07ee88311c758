"""Maven versions: ComparableVersionTest's cases, then Maven's own ComparableVersion as oracle.

The oracle is the maven-artifact jar of the installed Maven (3.8, Debian 12), run in one
Java process for the whole session (``maven_oracle`` in conftest.py).

ComparableVersion orders some versions in a circle, so the sort key cannot agree with it
everywhere. The tests hold the module to exactly this: ``tool_compare`` and ``canonical``
agree with Maven on every pair; the key agrees with Maven on every pair except where Maven
contradicts itself, and for each such pair the tests find a prefix ``w`` of one of the
versions that Maven itself orders between them (``a < w < b`` while Maven says ``a > b``).
"""

from __future__ import annotations

import doctest
import itertools
import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchwarden.versions import compare, ecosystem_for, maven, parse

# ComparableVersionTest.VERSIONS_QUALIFIER and VERSIONS_NUMBER: each list in ascending order.
QUALIFIER_ORDER = [
    "1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
    "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc",
    "1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123",
]  # fmt: skip
NUMBER_ORDER = [
    "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
    "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11",
    "11.a", "11b", "11c", "11m",
]  # fmt: skip
# testVersionsEqual, testLocaleIndependent, MNG-7644 and the leading-zero tests.
EQUAL = [
    ("1.0-alpha", "1.0-alpha"), ("1", "1"), ("1", "1.0"), ("1", "1.0.0"), ("1.0", "1.0.0"),
    ("1", "1-0"), ("1", "1.0-0"), ("1.0", "1.0-0"), ("1", "1-ga"), ("1.0.x", "1.0-x"),
    ("1a", "1-a"), ("1a", "1.0-a"), ("1a", "1.0.0-a"), ("1.0a", "1-a"), ("1.0.0a", "1-a"),
    ("1x", "1-x"), ("1x", "1.0-x"), ("1x", "1.0.0-x"), ("1.0x", "1-x"), ("1.0.0x", "1-x"),
    ("1a", "1.a"), ("1.0a", "1.0.a"), ("1x", "1.x"), ("1.0.0x", "1.0.0.x"),
    ("1ga", "1"), ("1release", "1"), ("1final", "1"), ("1cr", "1rc"),
    ("1a1", "1-alpha-1"), ("1b2", "1-beta-2"), ("1m3", "1-milestone-3"),
    ("1a1", "1alpha1"), ("1b2", "1beta2"), ("1m3", "1milestone3"),
    ("1X", "1x"), ("1A", "1a"), ("1B", "1b"), ("1M", "1m"), ("1Ga", "1"), ("1GA", "1"),
    ("1RELEASE", "1"), ("1RELeaSE", "1"), ("1Final", "1"), ("1FinaL", "1"), ("1FINAL", "1"),
    ("1Cr", "1Rc"), ("1cR", "1rC"), ("1m3", "1Milestone3"), ("1m3", "1MileStone3"),
    ("1m3", "1MILESTONE3"), ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ("0000000000000000001", "1"), ("000000000000000001", "01"), ("0000000001", "000000001"),
    ("0000000000000000000", "0"), ("000000000000000000", "00"), ("0000000000", "000000000"),
]  # fmt: skip
for _x in ["abc", "alpha", "a", "beta", "b", "def", "milestone", "m", "RC"]:
    EQUAL += [(f"2-{_x}", f"2.0.{_x}"), (f"2-{_x}", f"2.0.0.{_x}"), (f"2.0.{_x}", f"2.0.0.{_x}")]
# testVersionComparing, testLeadingZeroes, MNG-5568, MNG-6572, MNG-6964, MNG-7644: a < b.
LESS = [
    ("1", "2"), ("1.5", "2"), ("1", "2.5"), ("1.0", "1.1"), ("1.1", "1.2"), ("1.0.0", "1.1"),
    ("1.0.1", "1.1"), ("1.1", "1.2.0"), ("1.0-alpha-1", "1.0"), ("1.0-alpha-1", "1.0-alpha-2"),
    ("1.0-alpha-1", "1.0-beta-1"), ("1.0-beta-1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"),
    ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"), ("1.0", "1.0-1"), ("1.0-1", "1.0-2"),
    ("1.0.0", "1.0-1"), ("2.0-1", "2.0.1"), ("2.0.1-klm", "2.0.1-lmn"), ("2.0.1", "2.0.1-xyz"),
    ("2.0.1", "2.0.1-123"), ("2.0.1-xyz", "2.0.1-123"), ("0.7", "2"), ("0.2", "1.0.7"),
    ("6.1.0rc3", "6.1.0"), ("6.1.0rc3", "6.1H.5-beta"), ("6.1.0", "6.1H.5-beta"),
    ("20190126.230843", "1234567890.12345"),
    ("1234567890.12345", "123456789012345.1H.5-beta"),
    ("123456789012345.1H.5-beta", "12345678901234567890.1H.5-beta"),
    ("20190126.230843", "12345678901234567890.1H.5-beta"),
    ("1-0.alpha", "1"), ("1-0.beta", "1"), ("1-0.alpha", "1-0.beta"),
    # Maven 3.9 made these aliases of rc; in 3.8 they are unknown qualifiers, after sp.
    ("1rc", "1preview"), ("1sp", "1ea"),
    # Java int, long and BigInteger items: a long (10 to 18 digits once ASCII zeros are
    # stripped, or all zeros) sorts after any int, even when it is 0 or 1.
    ("1.999999999", "1.0000000000.1"), ("1.5", "1.٠٠٠٠٠٠٠٠٠1"),
    ("1.99999999999999999", "1.0000000000000000000.1"),
    # The module docstring's examples.
    ("1-alpha", "1"), ("1-ga", "1-sp"), ("1-sp", "1-1"), ("1-1", "1.1"), ("1.0.0", "1.0-x"),
]  # fmt: skip
for _x in ["abc", "alpha", "a", "beta", "b", "def", "milestone", "m", "RC"]:
    LESS.append((f"1.0.0.{_x}1", f"1.0.0-{_x}2"))


def _ascending(versions: Sequence[str]) -> list[tuple[str, str, int]]:
    return [(a, b, -1) for a, b in itertools.combinations(versions, 2)]


GOLDEN = (
    _ascending(QUALIFIER_ORDER)
    + _ascending(NUMBER_ORDER)
    + [(a, b, 0) for a, b in EQUAL]
    + [(a, b, -1) for a, b in LESS]
)
# getCanonical(), as Maven 3.8.7 prints it (MNG-7700's "0.x" -> "x" included).
CANONICAL = [
    ("0.x", "x"), ("0-1", "1"), ("0.2", "0.2"), ("1.0.0.RELEASE", "1"),
    ("5.3.30.RELEASE", "5.3.30"), ("1.0-SNAPSHOT", "1-snapshot"), ("1a1", "1-alpha-1"),
    ("2.0.beta-3", "2.0.beta-3"), ("ga.1", "1"), ("1-0.alpha", "1-alpha"), ("01.002", "1.2"),
    ("1.0000000000.1", "1.0.1"), ("1.٣", "1.3"), ("1.4_1", "1.4-_-1"), ("X.Y-Z", "x.y-z"),
]  # fmt: skip
# Maven orders each of these in a circle, a > b > c > a; the key's answers for the same pairs.
CIRCLES = [
    # A qualifier < a sub-list; yet sp > nothing > [alpha].
    ("1.sp.1", "1", "1-alpha", [1, 1, -1]),
    # A number (here 0) > a sub-list; yet 0.beta < nothing < [1].
    ("2.0-1", "2", "2.0.beta-3", [1, 1, -1]),
    # A long 0 > an int 0; yet 0.beta < nothing < 0.1.
    ("1.0000000000.beta.1", "1.0.1", "1", [-1, 1, 1]),
]


def _sign(a: str, b: str) -> int:
    ka, kb = parse("maven", a).key, parse("maven", b).key
    return (ka > kb) - (ka < kb)


@pytest.mark.parametrize(("a", "b", "expected"), GOLDEN)
def test_golden(a: str, b: str, expected: int) -> None:
    assert compare("maven", a, b) == expected
    assert compare("Maven", b, a) == -expected
    assert maven.tool_compare(a, b) == expected


def test_golden_cases_hold_for_the_installed_maven(maven_oracle) -> None:
    answers = maven_oracle.compare([(a, b) for a, b, _ in GOLDEN])
    assert [(a, b, got) for (a, b, _), got in zip(GOLDEN, answers, strict=True)] == GOLDEN


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical(text: str, canonical: str) -> None:
    assert maven.parse(text).canonical == canonical


def test_canonical_examples_hold_for_the_installed_maven(maven_oracle) -> None:
    assert maven_oracle.canonical([t for t, _ in CANONICAL]) == [c for _, c in CANONICAL]


def test_names_and_every_string_accepted() -> None:
    assert ecosystem_for("Maven") == ecosystem_for("maven") == "maven"
    assert parse("Maven", "") == parse("maven", "0") == parse("maven", "0.0-0")
    assert repr(parse("maven", "1.0")) == "MavenVersion('1.0')"
    assert parse("maven", "anything at all!").canonical == "anything at all!"


@pytest.mark.parametrize(("a", "b", "c", "key_signs"), CIRCLES)
def test_maven_orders_in_circles_and_the_key_follows_the_prefix(
    a: str, b: str, c: str, key_signs: list[int], maven_oracle
) -> None:
    pairs = [(a, b), (b, c), (c, a)]
    assert maven_oracle.compare(pairs) == [1, 1, 1]
    assert [maven.tool_compare(x, y) for x, y in pairs] == [1, 1, 1]
    # The key breaks the circle at the pair that differs first where the prefix ends.
    assert [_sign(x, y) for x, y in pairs] == key_signs


def _real_maven_versions() -> list[str]:
    found: set[str] = set()
    for path in (Path(__file__).parent.parent / "data" / "osv").rglob("*.json"):
        for affected in json.loads(path.read_text(encoding="utf-8")).get("affected", []):
            if affected.get("package", {}).get("ecosystem") == "Maven":
                found.update(affected.get("versions", []))
                for rng in affected.get("ranges", []):
                    for event in rng["events"]:
                        found.update(v for k, v in event.items() if k != "limit" or v != "*")
    return sorted(found)


def test_real_advisory_versions_sort_as_maven_sorts_them(maven_oracle) -> None:
    versions = _real_maven_versions()
    assert len(versions) > 1000
    ordered = sorted(versions, key=maven.parse)
    rng = random.Random(11)
    pairs = list(itertools.pairwise(ordered))
    pairs += [(rng.choice(versions), rng.choice(versions)) for _ in range(40_000)]
    answers = maven_oracle.compare(pairs)
    assert [(a, b) for (a, b), got in zip(pairs, answers, strict=True) if got != _sign(a, b)] == []


# Greek capital sigma is left out: Java lower-cases it by its own word-break rule, Python by
# Unicode's Final_Sigma rule, and the two differ in some contexts (module docstring).
_parts = st.sampled_from(
    ["0", "1", "2", "00", "01", "10", "007", "999999999", "0000000000", "1234567890"]
    + ["12345678901234567890", "000000000000000000000", "٣", "٠٠", "０"]
    + ["alpha", "beta", "a", "b", "m", "milestone", "rc", "cr", "snapshot", "SNAPSHOT"]
    + ["ga", "final", "Final", "release", "RELEASE", "sp", "x", "abc", "pom", "preview"]
    + ["é", "İ", "ſ", "𐐀", "_", "+", "~", " "]
)
_separators = st.sampled_from([".", "-", "", "", ".", "-", "..", "--", ".-", "-."])
_tricky = st.lists(st.tuples(_parts, _separators), min_size=0, max_size=6).map(
    lambda items: "".join(p + s for p, s in items)
)
_plausible = st.builds(
    lambda numbers, qualifier, tail: ".".join(numbers) + qualifier + tail,
    st.lists(st.sampled_from(["0", "1", "2", "10", "00"]), min_size=1, max_size=4),
    st.sampled_from(["", "", "-", ".", "-SNAPSHOT", "-alpha", ".Final", ".RELEASE", "-sp"]),
    st.sampled_from(["", "", "1", "-1", ".1", "-2", "a1", "-rc1", ".0"]),
)
maven_versions = st.one_of(_tricky, _plausible)


def _witness(a: str, b: str, key_sign: int) -> str | None:
    """A prefix ``w`` of a version that Maven orders between ``a`` and ``b`` as the key does."""
    texts = (a, b, maven.parse(a).canonical, maven.parse(b).canonical)
    candidates = sorted({t[:i] for t in texts for i in range(len(t) + 1)}, key=len)
    return next(
        (w for w in candidates if maven.tool_compare(a, w) == key_sign == maven.tool_compare(w, b)),
        None,
    )


@settings(max_examples=150, deadline=None, database=None)
@given(pool=st.lists(maven_versions, min_size=30, max_size=30))
def test_generated_versions_agree_with_maven(pool: list[str], maven_oracle) -> None:
    assert [maven.parse(v).canonical for v in pool] == maven_oracle.canonical(pool)
    pairs = list(itertools.product(pool, repeat=2))
    answers = maven_oracle.compare(pairs)
    circles: list[tuple[str, str, str, int]] = []
    for (a, b), expected in zip(pairs, answers, strict=True):
        assert maven.tool_compare(a, b) == expected, (a, b)
        key_sign = _sign(a, b)
        if key_sign != expected:
            w = _witness(a, b, key_sign)
            assert w is not None, f"{a!r} vs {b!r}: the key disagrees and Maven is not circular"
            circles.append((a, w, b, key_sign))
    # Confirm each circle with Maven itself, not only with tool_compare.
    checks = [(a, w) for a, w, _, _ in circles] + [(w, b) for _, w, b, _ in circles]
    answers = maven_oracle.compare(checks)
    expected_signs = [s for *_, s in circles] * 2
    assert answers == expected_signs


def test_documented_examples_hold() -> None:
    failed, tried = doctest.testmod(maven)
    assert (failed, tried > 0) == (0, True)


def test_numbers_of_any_length() -> None:
    # Python's int() refuses texts over 4300 digits; Java's BigInteger does not.
    huge = "9" * 5000
    assert compare("maven", f"1.{huge}", f"1.{huge[:-1]}8") == 1
    assert parse("maven", "1." + "0" * 5000 + "1") == parse("maven", "1.1")  # stripped: an int
    assert maven.parse(f"1.{'0' * 30}").canonical == "1"
