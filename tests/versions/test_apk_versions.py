"""Alpine versions: apk-tools' whole test/unit/version.data, then a literal reference.

Debian ships no apk-tools, so the generated cases are checked against a line-by-line
transliteration of apk-tools' ``apk_version_compare`` (the token loop), which the sort-key
encoding in patchwarden.versions.apk must agree with.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchwarden.errors import InvalidVersion
from patchwarden.versions import apk, compare

# apk-tools' own test/unit/version.data, whole and unchanged (GPL-2.0-only, see the folder's
# README), read the way apk-tools' test/unit/version_test.c reads it.
VERSION_DATA = Path(__file__).resolve().parent.parent / "data" / "apk-tools" / "version.data"


def _version_data() -> list[tuple[int, str, str, str | None, bool]]:
    """``(line, a, op, b, invert)`` per comparison line and ``(line, a, "", None, invert)``
    per validity line, exactly as version_test.c splits them."""
    cases = []
    for number, raw in enumerate(VERSION_DATA.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first, space, rest = line.partition(" ")
        if space and " " in rest:
            op, _, b = rest.partition(" ")
            invert = op.startswith("!")
            cases.append((number, first, op.removeprefix("!"), b, invert))
        else:
            invert = line.startswith("!")
            cases.append((number, line.removeprefix("!"), "", None, invert))
    return cases


VERSION_CASES = _version_data()
COMPARISONS = [c for c in VERSION_CASES if c[3] is not None]
VALIDITY = [c for c in VERSION_CASES if c[3] is None]


def test_version_data_is_the_whole_file() -> None:
    # The file as of apk-tools commit fcd4defc (2024-11-11): 754 comparisons, 31 validity checks.
    assert (len(COMPARISONS), len(VALIDITY)) == (754, 31)
    assert ("23_foo", ">", "4_beta") in [(a, op, b) for _, a, op, b, _ in COMPARISONS]


@pytest.mark.parametrize(
    ("line", "a", "op", "b", "invert"), COMPARISONS, ids=[f"line{c[0]}" for c in COMPARISONS]
)
def test_version_data_comparisons(line: int, a: str, op: str, b: str, invert: bool) -> None:
    assert apk.satisfies(a, op, b) != invert, f"version.data:{line}: {a} {'!' * invert}{op} {b}"
    if "~" not in op:
        assert apk.compare(a, b) == reference_compare(a, b)
        both_valid = reference_valid(a) and reference_valid(b)
        if both_valid:  # valid versions order the same through the registry
            assert compare("Alpine:v3.20", a, b) == apk.compare(a, b)


@pytest.mark.parametrize(
    ("line", "text", "invert"),
    [(c[0], c[1], c[4]) for c in VALIDITY],
    ids=[f"line{c[0]}" for c in VALIDITY],
)
def test_version_data_validity(line: int, text: str, invert: bool) -> None:
    try:
        apk.parse(text)
    except InvalidVersion:
        valid = False
    else:
        valid = True
    assert valid != invert, f"version.data:{line}: {'!' * invert}{text}"
    assert reference_valid(text) == valid


def test_unknown_suffixes_order_as_apk_orders_them() -> None:
    # apk reads up to the unknown suffix; what it read decides, else the invalid token
    # sorts below the end of a version and above a pre-release suffix.
    assert apk.compare("23_foo", "4_beta") == 1
    assert apk.compare("1.0_foo", "1.0") == -1
    assert apk.compare("1.0_foo", "1.0_rc1") == 1
    assert apk.compare("1.0_foo", "1.0_bar9") == 0  # both stop at the same token
    with pytest.raises(InvalidVersion, match="unknown suffix '_foo'"):
        apk.parse("23_foo")
    with pytest.raises(ValueError, match="unknown apk version operator"):
        apk.satisfies("1", "<>!", "2")


# Rules worth naming on their own: commit hashes, suffix order, leading zeros.
GOLDEN = [
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
    for a, b in itertools.product(pool, repeat=2):  # apk orders invalid versions too
        assert apk.compare(a, b) == reference_compare(a, b), (a, b)


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
