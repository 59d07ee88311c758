"""RPM versions: rpm's own rpmvercmp test cases, then the real librpm on generated ones."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from patchwarden.errors import InvalidVersion
from patchwarden.versions import compare, rpm

# (a, b, rpmvercmp(a, b)): the cases of rpm's tests/rpmvercmp.at, one direction each.
VERCMP = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0.1", 0),
    ("2.0", "2.0.1", -1),
    ("2.0.1a", "2.0.1a", 0),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p1", 0),
    ("5.5p1", "5.5p2", -1),
    ("5.5p10", "5.5p10", 0),
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz10", "xyz10", 0),
    ("xyz10", "xyz10.1", -1),
    ("xyz.4", "xyz.4", 0),
    ("xyz.4", "8", -1),
    ("xyz.4", "2", -1),
    ("5.5p2", "5.6p1", -1),
    ("5.6p1", "6.5p1", -1),
    ("6.0.rc1", "6.0", 1),
    ("10b2", "10a1", 1),
    ("10a2", "10b2", -1),
    ("1.0aa", "1.0aa", 0),
    ("1.0a", "1.0aa", -1),
    ("10.0001", "10.0001", 0),
    ("10.0001", "10.1", 0),
    ("10.0001", "10.0039", -1),
    ("4.999.9", "5.0", -1),
    ("20101121", "20101121", 0),
    ("20101121", "20101122", -1),
    ("2_0", "2_0", 0),
    ("2.0", "2_0", 0),
    ("a", "a", 0),
    ("a+", "a+", 0),
    ("a+", "a_", 0),
    ("+a", "+a", 0),
    ("+a", "_a", 0),
    ("+_", "+_", 0),
    ("_+", "+_", 0),
    ("+", "_", 0),
    ("1.0~rc1", "1.0~rc1", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1~git123", 0),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    # Caret (rpm >= 4.15): after the base version, before any later one.
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0", 1),
    ("1.0^git1", "1.0.1", -1),
    ("1.0^git1", "1.0^git2", -1),
    ("1.0^git1~pre", "1.0^git1", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0~rc1^git1", "1.0", -1),
    # Non-ASCII bytes only separate, as rpm's own "oddities" note says.
    ("1.1.α", "1.1.β", 0),
    # rpmbuild allows %, { and } (an unexpanded macro); like '.', they only separate.
    ("1.0%{dist}", "1.0.dist", 0),
    ("1%{dist}", "1", 1),
    ("1%{dist}", "1~rc", 1),
    ("1.0}", "1.0", 0),
    ("{1.0", "1.0", 0),
    ("1%2", "1.2", 0),
    ("1%{el9}", "1%{el10}", -1),
    ("%{x}1", "1", -1),
]

# (a, b, labelCompare): whole EVRs.
EVR = [
    ("1:1.0-1", "2.0-1", 1),
    ("0:1.0-1", "1.0-1", 0),
    ("1.0", "1.0-1", -1),  # labelCompare: a missing release sorts first
    ("1.0-1", "1.0-1.el9", -1),
    ("1.0-1%{dist}", "1.0-1", 1),
    ("1.0-1%{dist}", "1.0-1.el9", -1),
    ("%{epoch}1.0-1", "1.0-1", -1),
    ("8.2.2637-20.el9_1", "8.2.2637-20.el9", 1),
    ("2:8.2.2637-20.el9_1", "2:9.0-1.el9", -1),
    ("1.2.3-150400.3.6.1", "1.2.3-150400.3.12.1", -1),
    ("3.0.7-24.el9", "3.0.7-25.el9", -1),
    ("1.0~rc1-1", "1.0-1", -1),
    ("01:1.0", "1:1.0", 0),
]

INVALID = [
    ("", "version is empty"),
    ("1:", "version is empty"),
    (":1.0", "epoch is empty"),
    ("a:1.0", "epoch must be a number"),
    ("1.0-", "release is empty"),
    ("1.0-1-2", "version and release may not contain '-'"),
    ("1.0 -1", "character ' ' is not allowed in an rpm version"),
    ("1:2:3", "character ':' is not allowed in an rpm version"),
    ("1.0-1%{?dist}", "character '?' is not allowed in an rpm version"),
    ("1.0$", "character '$' is not allowed in an rpm version"),
]


@pytest.mark.parametrize("text", ["1.0-1%{dist}", "%{version}-%{release}", "1.0}", "{", "1%2"])
def test_rpmbuild_allows_percent_and_braces(text: str) -> None:
    # ALLOWED_CHARS_VERREL in rpm's build/parsePreamble.c: alphanumerics and "._+%{}~^".
    assert rpm.parse(text).text == text


@pytest.mark.parametrize(("a", "b", "expected"), VERCMP)
def test_rpmvercmp_cases(a: str, b: str, expected: int) -> None:
    assert rpm.vercmp(a, b) == expected
    assert rpm.vercmp(b, a) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), EVR)
def test_evr_cases(a: str, b: str, expected: int) -> None:
    assert compare("rpm", a, b) == expected
    assert compare("Rocky Linux:9", b, a) == -expected


def test_cases_are_what_librpm_says(rpm_label_compare) -> None:
    pairs = [((None, a, None), (None, b, None)) for a, b, _ in VERCMP]
    for a, b, _ in EVR:
        pa, pb = rpm.parse(a), rpm.parse(b)
        pairs.append((_evr(pa), _evr(pb)))
    assert rpm_label_compare(pairs) == [e for *_, e in VERCMP + EVR]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidVersion, match="^" + re.escape(reason)):
        rpm.parse(text)


def test_parts() -> None:
    v = rpm.parse("2:8.2.2637-20.el9_1")
    assert (v.epoch, v.version, v.release) == (2, "8.2.2637", "20.el9_1")
    v = rpm.parse("1.0")
    assert (v.epoch, v.version, v.release) == (None, "1.0", None)


def _evr(v: rpm.RpmVersion) -> tuple[str | None, str, str | None]:
    return (None if v.epoch is None else str(v.epoch), v.version, v.release)


_PIECES = [*"0123456789", "10", "007", "99999999999999999999", *"aAzZ", "rc", "git", "el9"]
_SEPARATORS = [".", "_", "+", "~", "^", "~", "^", "%", "{", "}", "%{dist}", "%{"]
_ODD = ["-", ":", "%", " ", "é", "α", "/"]
# The rpm module refuses an empty version, so the oracle gets none.
_anything = st.lists(
    st.sampled_from(_PIECES * 3 + _SEPARATORS * 2 + _ODD), min_size=1, max_size=8
).map("".join)
_part = st.lists(st.sampled_from(_PIECES * 2 + _SEPARATORS), min_size=1, max_size=7).map("".join)
_evrs = st.builds(
    lambda e, v, r: e + v + r,
    st.sampled_from(["", "", "0:", "1:", "01:", "2:"]),
    _part,
    st.one_of(st.just(""), _part.map(lambda r: "-" + r)),
)

_SETTINGS = settings(
    max_examples=5,
    deadline=None,
    database=None,
    phases=[Phase.generate],  # no shrinking: the assertion lists every disagreement
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_SETTINGS
@given(pool=st.lists(_anything, min_size=120, max_size=120))
def test_vercmp_agrees_with_librpm_on_any_string(rpm_label_compare, pool: list[str]) -> None:
    pairs = list(itertools.product(pool, repeat=2))
    theirs = rpm_label_compare([((None, a, None), (None, b, None)) for a, b in pairs])
    ours = [rpm.vercmp(a, b) for a, b in pairs]
    bad = [(a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    assert bad == []


@_SETTINGS
@given(pool=st.lists(_evrs, min_size=120, max_size=120))
def test_evrs_agree_with_librpm(rpm_label_compare, rpm_split, pool: list[str]) -> None:
    parsed = [rpm.parse(text) for text in pool]
    # Our split of epoch:version-release is librpm's parseEVR ...
    split = [(None if e is None else int(e), v, r) for e, v, r in rpm_split(pool)]
    assert split == [(p.epoch, p.version, p.release) for p in parsed]
    # ... and our order is labelCompare's, on every pair.
    pairs = list(itertools.product(parsed, repeat=2))
    theirs = rpm_label_compare([(_evr(a), _evr(b)) for a, b in pairs])
    ours = [(a > b) - (a < b) for a, b in pairs]
    bad = [(a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    assert bad == []
