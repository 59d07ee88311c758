"""Debian versions: golden cases from dpkg's own tests and Debian policy, then the real dpkg."""

from __future__ import annotations

import contextlib
import itertools
import random

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from patchwarden.errors import InputError, InvalidVersion
from patchwarden.versions import compare, deb

# (a, b, expected): dpkg lib/dpkg/t/t-version.c, Debian policy 5.6.12, and field cases.
GOLDEN = [
    ("1-1", "2-1", -1),
    ("1-1", "1-2", -1),
    ("0-0", "0-0", 0),
    ("0-00", "00-0", 0),
    ("1:2-3", "1:2-3", 0),
    ("0-0", "1:0-0", -1),
    ("a-0", "b-0", -1),
    ("0-a", "0-b", -1),
    ("0", "0:0", 0),
    ("0:0-0", "0-0", 0),
    ("0:0.0-0.0", "0.0-0.0", 0),
    ("1:0", "0:9", 1),
    ("5:1", "4:99", 1),
    # Policy's own example: ~~ < ~~a < ~ < (nothing) < a.
    ("1.0~~", "1.0~~a", -1),
    ("1.0~~a", "1.0~", -1),
    ("1.0~", "1.0", -1),
    ("1.0", "1.0a", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1-1", "1.0-1", -1),
    ("1.0+dfsg-1", "1.0-1", 1),
    ("1.0-1", "1.0-1+deb12u1", -1),
    ("2.36-9+deb12u3", "2.36-9+deb12u4", -1),
    ("3.0.11-1~deb12u2", "3.0.11-1", -1),
    ("1:9.18.24-1", "1:9.18.19-1~deb12u1", 1),
    ("5.15.0-91.101~20.04.1", "5.15.0-91.101", -1),
    ("1.2.10", "1.2.9", 1),
    ("1.002", "1.2", 0),
    ("1.0", "1.00", 0),
    ("1.", "1.0", 0),
    ("1.0-0", "1.0", 0),
    ("1a", "1.", -1),  # letters sort before non-letters
    ("1+", "1.", -1),  # '+' (43) before '.' (46)
    ("1~", "1", -1),
    ("1~~", "1~", -1),
    ("abc3", "9", 1),  # dpkg warns, and then compares: letters after the digit-start
    ("1.0!", "1.0", 1),
    ("1.é", "1.z", 1),  # non-ASCII bytes sort after letters ...
    ("1.é", "1.+", -1),  # ... and before ASCII punctuation
    ("12345678901234567890123", "12345678901234567890124", -1),
    ("000000000000000000000001", "1", 0),
    (" \t1:0-1", "1:0-1", 0),
    ("1:0-1 \t", "1:0-1", 0),
    ("0:0-0-0", "0-0-0", 0),
    ("0:09azAZ.-+~:-0", "0:09azAZ.-+~:-1", -1),
    ("0:0-azAZ09.+~", "0-azAZ09.+~", 0),
    ("+1:0", "1:0", 0),  # strtol reads a sign
    ("-0:1", "1", 0),
    ("\n1:0", "1:0", 0),  # strtol skips any C whitespace before the epoch
]

# (version, reason): what dpkg rejects as an error, not a warning.
INVALID = [
    ("", "version is empty (dpkg reads this as no version at all)"),
    ("<unknown>", "version is empty (dpkg reads this as no version at all)"),
    ("  ", "version is empty"),
    ("0:", "nothing after the epoch colon"),
    ("0:0 0-1", "version has embedded spaces"),
    ("-1:0-1", "epoch must not be negative"),
    ("999999999999999999999999:0-1", "epoch is too big (at most 2147483647)"),
    ("2147483648:1", "epoch is too big (at most 2147483647)"),
    ("a:0-0", "epoch must be a number"),
    ("A:0-0", "epoch must be a number"),
    (":1.0", "epoch is empty"),
    ("1a:0", "epoch must be a number"),
    ("-0", "upstream version is empty"),
    ("0:-0", "upstream version is empty"),
    ("1.0-", "revision is empty"),
    ("-", "revision is empty"),
    ("1.0-0:0", "epoch must be a number"),
    ("1\x000", "version contains a NUL character"),
]

# dpkg only warns about these, installs such packages, and compares them.
WARNED = ["0:abc3-0", "0:0-0:0", "1_0", "1.0-a_b", "1.é"] + [
    f"0:0{c}-0" for c in "!#@$%&/|\\<>()[]{};,_=*^'"
]


@pytest.mark.parametrize(("a", "b", "expected"), GOLDEN)
def test_golden(a: str, b: str, expected: int) -> None:
    assert compare("deb", a, b) == expected
    assert compare("deb", b, a) == -expected


def test_golden_cases_are_what_dpkg_says(dpkg_compare) -> None:
    assert dpkg_compare([(a, b) for a, b, _ in GOLDEN]) == [e for _, _, e in GOLDEN]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        deb.parse(text)
    assert caught.value.reason == reason
    assert str(caught.value) == f"{reason}: {text!r}"
    assert isinstance(caught.value, InputError)


def test_invalid_cases_are_what_dpkg_rejects(dpkg_compare) -> None:
    testable = [t for t, _ in INVALID if t not in ("", "<unknown>") and "\0" not in t]
    assert dpkg_compare([(t, "1") for t in testable]) == [None] * len(testable)


@pytest.mark.parametrize("text", WARNED)
def test_warned_versions_are_accepted(text: str) -> None:
    assert deb.parse(text).text == text


def test_warned_cases_are_what_dpkg_accepts(dpkg_compare) -> None:
    assert None not in dpkg_compare([(t, "1") for t in WARNED])


def test_parts_are_split_as_dpkg_does() -> None:
    v = deb.parse("0:0-0:0-0")
    assert (v.epoch, v.upstream, v.revision) == (0, "0-0:0", "0")
    v = deb.parse(" 2:1.é~rc1-3ubuntu1 ")
    assert (v.epoch, v.upstream, v.revision) == (2, "1.é~rc1", "3ubuntu1")
    assert deb.parse("1.0").revision == ""


def test_equal_versions_hash_alike() -> None:
    assert deb.parse("1.0-0") == deb.parse("1.00")
    assert len({deb.parse("1.0-0"), deb.parse("1.00"), deb.parse("0:1.0")}) == 1


# Everything over a small alphabet: 8 + 64 + 512 strings, sorted by us, checked by dpkg.
_SMALL = ["".join(p) for n in (1, 2, 3) for p in itertools.product("01a~.-:+", repeat=n)]


def test_every_short_string_agrees_with_dpkg(dpkg_compare) -> None:
    _check_against_dpkg(dpkg_compare, _SMALL, random.Random(440))


_COMMON = [
    *"0123456789",
    "10",
    "01",
    "000",
    "4294967296",
    "123456789012345678901",
    *"abzAZ",
    *".+~",
    "~~",
    "-",
    ":",
    "~rc1",
    "+dfsg",
    "ubuntu",
    "+deb12u1",
]
_ODD = ["_", "!", "=", "é", "\u00ff", "\n", " ", "\t"]
_tokens = st.sampled_from(_COMMON * 4 + _ODD)
_REAL = ["2.36-9+deb12u4", "1:9.18.24-1", "7.88.1-10+deb12u5", "2:8.2.3995-1ubuntu2.15"]
deb_versions = st.one_of(
    st.builds(
        lambda epoch, upstream, revision: epoch + upstream + revision,
        st.sampled_from(["", "", "", "0:", "1:", "01:", "10:", "a:", ":", "-1:", "+1:"]),
        st.lists(_tokens, min_size=1, max_size=7).map("".join),
        st.one_of(
            st.sampled_from(["", "", "-1", "-0", "-1ubuntu1", "-", "-1~bpo12+1"]),
            st.lists(_tokens, min_size=1, max_size=4).map(lambda t: "-" + "".join(t)),
        ),
    ),
    st.sampled_from(_REAL),
)


# No shrinking: each step would run dpkg again, and the assertion lists every disagreement.
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pool=st.lists(deb_versions, min_size=200, max_size=200), seed=st.integers(0, 2**32))
def test_generated_versions_agree_with_dpkg(dpkg_compare, pool: list[str], seed: int) -> None:
    _check_against_dpkg(dpkg_compare, pool, random.Random(seed))


def _ours(a: str, b: str) -> int | None:
    try:
        return compare("deb", a, b)
    except InvalidVersion:
        return None


def _check_against_dpkg(dpkg_compare, pool: list[str], rng: random.Random) -> None:
    """Same validity per version, same answer per pair, and the same total order.

    Agreeing on each neighbour pair of our sorted order, dpkg (a total preorder too)
    agrees with all of it; random pairs and self-pairs check the rest.
    """
    valid = []
    for text in pool:
        with contextlib.suppress(InvalidVersion):
            valid.append(deb.parse(text))
    ordered = [v.text for v in sorted(valid)]
    pairs = list(itertools.pairwise(ordered))
    pairs += [(a, a) for a in pool]
    shuffled = pool[:]
    rng.shuffle(shuffled)
    pairs += list(zip(pool, shuffled, strict=True))
    theirs = dpkg_compare(pairs)
    ours = [_ours(a, b) for a, b in pairs]
    disagreements = [
        (a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs, strict=True) if o != t
    ]
    assert disagreements == []
