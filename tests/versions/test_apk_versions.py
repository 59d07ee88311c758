"""Alpine versions: cases from apk-tools' test/version.data, then a literal reference.

Debian ships no apk-tools, so the generated cases are checked against a line-by-line
transliteration of apk-tools' ``apk_version_compare`` (the token loop), which the sort-key
encoding in patchwarden.versions.apk must agree with.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchwarden.errors import InvalidVersion
from patchwarden.versions import apk, compare

# (a, op, b): a selection of apk-tools' test/version.data.
VERSION_DATA = """
2.34 > 0.1.0_alpha
0.1.0_alpha = 0.1.0_alpha
0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha
0.1.0_alpha < 2.2.39-r1
1.0.4-r3 < 1.0.4-r4
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.3_alpha2 < 1.3_alpha3
0.8_beta1 < 0.8_beta2
3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2
0.12.3 > 0.12
0.12 < 0.13_beta1
1.2.11 < 1.2.12.1
3.1_p16 < 3.1_p17
1.06-r6 < 006
006 > 1.0.0
1.2.2-r1 > 1.2.2
20050718-r1 < 20050718-r2
3.9.8-r5 > 2.01.01_alpha10
1.0 > 0.99.3.20040818
1.39 > 1.00_beta2
4.2.52_p2-r1 < 4.2.52_p4-r2
1.02.07 < 1.02.10-r1
2.0.5-r1 < 4.5
1.05-r18 < 1.05-r19
2.38 < 20050405
10-r1 > 4
2.4.2 < 20060720
20060720 > 3.0.20060720
2.5.1-r8 < 2.5.1a-r1
3.0.0-r2 < 021109-r3
021109-r3 < 20060512
20040401 > 2.0.0_rc3-r1
1.1.7 < 6b-r7
0.10.0-r1 > 0.10.0
0.10.0 < 0.10.1_rc1
2.0.2 > 1.1a
1.0-r1 > 0.15.1b
0.15.1b-r2 > 0.15.1b
2.1_pre20 < 2.1_pre26
2.10.1 > 02.08.01b
3.81 > 1.6d
1.6d > 1.2.07.8
1.2.07.8 < 1.2.12.04
1.07-r1 < 1.07.5
20061003 > 0.1_pre20060810
0.59s-r11 < 0.65
0.20070118 < 0.20070207_rc1
4.5_p1-r1 > 4.5_p1
0.9.8c-r1 < 0.9.8d
1.7 < 1.7b
1.8.5 < 1.8.5_p2
2.9.11_pre20051101-r3 > 2.9.11_pre20051101
1.6.8_p12-r1 > 1.6.8_p9-r2
0.9.28-r2 < 0.9.28.1
0.9.28.1 < 087-r1
104-r11 > 104-r9
20040406-r1 > 2.12r-r4
2.12r-r4 < 2.12r-r5
7.0.17 < 7.0.174
1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
"""
GOLDEN = [
    (a, b, {"<": -1, "=": 0, ">": 1}[op])
    for a, op, b in (line.split() for line in VERSION_DATA.strip().splitlines())
]
# Rules the data above does not reach: commit hashes, suffix order, leading zeros.
GOLDEN += [
    ("1.0_rc1", "1.0", -1),
    ("1.0", "1.0-r0", -1),
    ("1.0-r1", "1.0_p1", -1),
    ("1.0_alpha", "1.0_beta", -1),
    ("1.0_beta", "1.0_pre", -1),
    ("1.0_pre", "1.0_rc", -1),
    ("1.0_cvs", "1.0_svn", -1),
    ("1.0_svn", "1.0_git", -1),
    ("1.0_git", "1.0_hg", -1),
    ("1.0_hg", "1.0_p", -1),
    ("1.0_p", "1.0_p0", -1),
    ("1.0_git20240101~0abc-r1", "1.0_git20240101-r1", 1),
    ("1.0~0abc", "1.0~1", -1),
    ("1.0~abc", "1.0~abcd", -1),
    ("1.05", "1.5", -1),
    ("1.05", "1.050", -1),
    ("1.0", "1.00", -1),
    ("1.010", "1.9", -1),
    ("01.0", "1.0", 0),  # the first number always compares as a number
    ("1.0a", "1.0b", -1),
    ("1.0z", "1.0.1", -1),
    ("18446744073709551616", "0", 0),  # 2**64 wraps to 0 in apk-tools' uint64_t
]

INVALID = [
    ("", "version must start with a digit"),
    ("v1.0", "version must start with a digit"),
    ("1.0bc", "letter 'c' may only follow a number"),
    ("1.0a1", "'1' may not follow a letter or suffix"),
    ("1.", "'.' must be followed by a number"),
    ("1.0_foo", "unknown suffix '_foo'"),
    ("1.0_", "unknown suffix '_'"),
    ("1.0-r", "'-r' must be followed by a number"),
    ("1.0-1", "'-' must start the one revision, as in '-r1'"),
    ("1.0-r1-r2", "'-' must start the one revision, as in '-r1'"),
    ("1.0~", "'~' must be followed by a lowercase hex commit id"),
    ("1.0~ABC", "'~' must be followed by a lowercase hex commit id"),
    ("1.0-r1~abc", "'~' may appear once, before the revision"),
    ("1.0-r1_p1", "a '_' suffix may not follow a hash or revision"),
    ("1.0A", "character 'A' is not allowed in an apk version"),
    ("1.0 ", "character ' ' is not allowed in an apk version"),
]


@pytest.mark.parametrize(("a", "b", "expected"), GOLDEN)
def test_golden(a: str, b: str, expected: int) -> None:
    assert compare("apk", a, b) == expected
    assert compare("Alpine:v3.18", b, a) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), GOLDEN)
def test_reference_agrees_with_golden(a: str, b: str, expected: int) -> None:
    assert reference_compare(a, b) == expected


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        apk.parse(text)
    assert caught.value.reason == reason
    assert not reference_valid(text)


_apk_parts = st.sampled_from(
    [*"0123456789", "00", "01", "010", "99", "18446744073709551617"]
    + [".0", ".1", ".01", ".10", ".007", "a", "b", "z", "_alpha", "_beta", "_pre", "_rc"]
    + ["_cvs", "_svn", "_git", "_hg", "_p", "1", "2", "~0", "~a1", "~ff", "-r0", "-r1", "-r10"]
    + ["_", ".", "-", "~", "A", "x"]
)
_numbers = st.sampled_from(["0", "1", "2", "00", "01", "010", "10", "99"])
_well_formed = st.builds(
    lambda first, dots, letter, suffixes, commit, revision: (
        first + "".join("." + d for d in dots) + letter + "".join(suffixes) + commit + revision
    ),
    _numbers,
    st.lists(_numbers, max_size=3),
    st.sampled_from(["", "", "a", "b", "z"]),
    st.lists(
        st.builds(
            lambda name, n: f"_{name}{n}",
            st.sampled_from(["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]),
            st.sampled_from(["", "", "0", "1", "2", "10", "007"]),
        ),
        max_size=2,
    ),
    st.sampled_from(["", "", "~0", "~a1", "~a10", "~ff"]),
    st.sampled_from(["", "", "-r0", "-r1", "-r2", "-r10"]),
)
apk_versions = st.one_of(_well_formed, st.lists(_apk_parts, min_size=1, max_size=7).map("".join))


@settings(max_examples=60, deadline=None, database=None)
@given(pool=st.lists(apk_versions, min_size=40, max_size=40))
def test_generated_versions_agree_with_reference(pool: list[str]) -> None:
    for text in pool:
        valid = reference_valid(text)
        try:
            apk.parse(text)
        except InvalidVersion:
            assert not valid, text
        else:
            assert valid, text
    valid_pool = [t for t in pool if reference_valid(t)]
    for a, b in itertools.product(valid_pool, repeat=2):
        assert compare("apk", a, b) == reference_compare(a, b), (a, b)


# ---- reference: apk-tools src/version.c, transliterated token loop -------------------------
INITIAL_DIGIT, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END, INVALID_T = range(9)
SUFFIXES = ["", "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"]
SUFFIX_NONE = 5


class _Token:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0
        self.token, self.suffix, self.number, self.value = INITIAL_DIGIT, 0, 0, ""
        self._digits()

    def _span(self, ok) -> str:
        start = self.i
        while self.i < len(self.s) and ok(self.s[self.i]):
            self.i += 1
        return self.s[start : self.i]

    def _digits(self) -> None:
        self.value = self._span(lambda c: "0" <= c <= "9")
        self.number = int(self.value or "0") % 2**64
        if not self.value:
            self.token = INVALID_T

    def next(self) -> None:
        if self.i == len(self.s):
            self.token = END
            return
        c = self.s[self.i]
        t = self.token
        if "a" <= c <= "z":
            if t > DIGIT:
                self.token = INVALID_T
                return
            self.value, self.token = c, LETTER
            self.i += 1
        elif c == "." or "0" <= c <= "9":
            if c == ".":
                if t > DIGIT:
                    self.token = INVALID_T
                    return
                self.i += 1
            if t in (INITIAL_DIGIT, DIGIT):
                self.token = DIGIT
            elif t == SUFFIX:
                self.token = SUFFIX_NO
            else:
                self.token = INVALID_T
                return
            self._digits()
        elif c == "_":
            if t > SUFFIX_NO:
                self.token = INVALID_T
                return
            self.i += 1
            self.value = self._span(lambda ch: "a" <= ch <= "z")
            name = self.value
            self.suffix = SUFFIXES.index(name) if name and name in SUFFIXES else 0
            self.token = SUFFIX if self.suffix else INVALID_T
        elif c == "~":
            if t >= COMMIT_HASH:
                self.token = INVALID_T
                return
            self.i += 1
            self.value = self._span(lambda ch: ch in "0123456789abcdef")
            self.token = COMMIT_HASH if self.value else INVALID_T
        elif c == "-":
            if t >= REVISION_NO or not self.s.startswith("-r", self.i):
                self.token = INVALID_T
                return
            self.i += 2
            self.token = REVISION_NO
            self._digits()
        else:
            self.token = INVALID_T


def _token_cmp(a: _Token, b: _Token) -> int:
    def sign(x, y) -> int:
        return (x > y) - (x < y)

    if a.token == DIGIT and (a.value[0] == "0" or b.value[0] == "0"):
        return sign(a.value, b.value)
    if a.token in (DIGIT, INITIAL_DIGIT, SUFFIX_NO, REVISION_NO):
        return sign(a.number, b.number)
    if a.token == LETTER:
        return sign(a.value, b.value)
    if a.token == SUFFIX:
        return sign(a.suffix, b.suffix)
    return sign(a.value, b.value)


def reference_valid(text: str) -> bool:
    t = _Token(text)
    while t.token < END:
        t.next()
    return t.token == END


def reference_compare(a: str, b: str) -> int:
    ta, tb = _Token(a), _Token(b)
    while ta.token == tb.token and ta.token < END:
        r = _token_cmp(ta, tb)
        if r:
            return r
        ta.next()
        tb.next()
    if ta.token == tb.token:
        return 0
    if ta.token == SUFFIX and ta.suffix < SUFFIX_NONE:
        return -1
    if tb.token == SUFFIX and tb.suffix < SUFFIX_NONE:
        return 1
    return -1 if ta.token > tb.token else 1
