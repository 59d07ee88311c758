"""SemVer 2.0.0 (and Go) against the spec's examples; PEP 440 against ``packaging``."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion as PackagingInvalid
from packaging.version import Version as PackagingVersion

from patchwarden.errors import InvalidVersion
from patchwarden.versions import compare, pep440, semver

# SemVer section 11, in order.
SPEC_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]

# The test strings published with semver.org's suggested regular expression.
VALID = [
    "0.0.4",
    "1.2.3",
    "10.20.30",
    "1.1.2-prerelease+meta",
    "1.1.2+meta",
    "1.1.2+meta-valid",
    "1.0.0-alpha.beta.1",
    "1.0.0-alpha0.valid",
    "1.0.0-alpha.0valid",
    "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
    "1.0.0-rc.1+build.1",
    "10.2.3-DEV-SNAPSHOT",
    "1.2.3-SNAPSHOT-123",
    "2.0.0+build.1848",
    "1.0.0-alpha+beta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
    "1.2.3----R-S.12.9.1--.12+meta",
    "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
    "99999999999999999999999.999999999999999999.99999999999999999",
    "1.0.0-0A.is.legal",
]
INVALID = [
    ("1", "must start with MAJOR.MINOR.PATCH, three numbers"),
    ("1.2", "must start with MAJOR.MINOR.PATCH, three numbers"),
    ("1.2.3.DEV", "must start with MAJOR.MINOR.PATCH, three numbers"),
    ("01.1.1", "numbers may not have leading zeros"),
    ("1.1.01", "numbers may not have leading zeros"),
    ("v1.2.3", "SemVer has no 'v' prefix"),
    ("1.2.3-0123", "pre-release and build"),
    ("1.1.2+.123", "pre-release and build"),
    ("1.0.0-alpha_beta", "character '_' is not allowed in SemVer"),
    ("1.0.0-alpha..1", "pre-release and build"),
    ("9.8.7+meta+meta", "pre-release and build"),
    ("+justmeta", "must start with MAJOR.MINOR.PATCH, three numbers"),
    ("-1.0.3-gamma+b7718", "must start with MAJOR.MINOR.PATCH, three numbers"),
    (" 1.2.3", "character ' ' is not allowed in SemVer"),
    ("1.2.3\n", "character '\\n' is not allowed in SemVer"),
    ("1.2.3-β", "character 'β' is not allowed in SemVer"),
]


def test_spec_order() -> None:
    for a, b in itertools.combinations(SPEC_ORDER, 2):
        assert compare("semver", a, b) == -1, (a, b)
        assert compare("npm", b, a) == 1, (a, b)


def test_build_metadata_is_ignored() -> None:
    assert compare("crates.io", "1.0.0+a", "1.0.0+b") == 0
    assert compare("semver", "1.0.0-alpha+001", "1.0.0-alpha") == 0
    assert semver.parse("1.0.0+a") == semver.parse("1.0.0+b")


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    assert semver.parse(text).text == text


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid(text: str, reason: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        semver.parse(text)
    assert caught.value.reason.startswith(reason)


def test_parts() -> None:
    v = semver.parse("1.2.3-rc.1+build.5")
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == (1, 2, 3, "rc.1", "build.5")


def test_go_versions_take_an_optional_v() -> None:
    assert compare("Go", "v1.2.3", "1.2.3") == 0
    assert compare("go", "v0.0.0-20240101120000-abcdef123456", "v0.0.1") == -1
    assert compare("go", "v2.0.0+incompatible", "v2.0.0") == 0
    assert semver.parse_go("v1.0.0").ecosystem == "go"
    with pytest.raises(InvalidVersion):
        semver.parse_go("vv1.0.0")


def _spec_precedence(a: str, b: str) -> int:
    """SemVer section 11 written out step by step, as an independent reference."""

    def split(v: str) -> tuple[list[int], list[str]]:
        core, _, pre = v.split("+")[0].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else []

    (ca, pa), (cb, pb) = split(a), split(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if not pa or not pb:
        return (not pa) - (not pb)
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


_identifier = st.sampled_from(["0", "1", "2", "10", "a", "b", "A", "alpha", "rc", "x-y", "1a"])
_semvers = st.builds(
    lambda core, pre, build: core + (f"-{'.'.join(pre)}" if pre else "") + build,
    st.sampled_from(["0.0.0", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]),
    st.lists(_identifier, max_size=3),
    st.sampled_from(["", "", "+b1", "+build.7"]),
)


@settings(max_examples=40, deadline=None, database=None)
@given(pool=st.lists(_semvers, min_size=25, max_size=25))
def test_generated_semver_agrees_with_spec(pool: list[str]) -> None:
    for a, b in itertools.product(pool, repeat=2):
        assert compare("semver", a, b) == _spec_precedence(a, b), (a, b)


# ---- PEP 440 -------------------------------------------------------------------------------

PEP440_ORDER = [
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
    "1!0.1",
]


def test_pep440_spec_order() -> None:
    for a, b in itertools.combinations(PEP440_ORDER, 2):
        assert compare("PyPI", a, b) == -1, (a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("1.0", "1.0.0"), ("1.0a1", "1.0.alpha.1"), ("1.0rc1", "1.0c1"), ("1.0-1", "1.0.post1")]
    + [("v1.0", "1.0"), (" 1.0\n", "1.0"), ("1.0.DEV", "1.0.dev0"), ("1.0+AbC", "1.0+abc")],
)
def test_pep440_equivalent_spellings(a: str, b: str) -> None:
    assert compare("pep440", a, b) == 0


@pytest.mark.parametrize("text", ["", "1.0+", "1..0", "1.0-", "a1", "1.0+é", "1.0\u212a", "1_0"])
def test_pep440_invalid(text: str) -> None:
    with pytest.raises(InvalidVersion):
        pep440.parse(text)
    with pytest.raises(PackagingInvalid):
        PackagingVersion(text)


_pep_pieces = st.sampled_from(
    ["0", "1", "2", "10", "01", ".", ".0", ".1", "-", "_", "!", "+", "a", "b", "c", "rc"]
    + ["alpha", "beta", "pre", "preview", "post", "rev", "r", "dev", "RC", "Post", "v", " ", "x"]
    + ["ubuntu", "abc"]
)
_pep440s = st.one_of(
    st.lists(_pep_pieces, min_size=1, max_size=8).map("".join),
    st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(["", "", "1!", "0!"]),
        st.sampled_from(["1", "1.0", "1.0.0", "2", "1.2"]),
        st.sampled_from(["", "", "a1", "b2", "rc1", "-alpha.2", "c"]),
        st.sampled_from(["", "", ".post1", "-1", "rev2", ".post"]),
        st.sampled_from(["", "", ".dev0", "dev3"]),
        st.sampled_from(["", "", "+abc", "+1", "+abc.1", "+1.abc", "+ubuntu-2"]),
    ),
)


def _packaging(text: str) -> PackagingVersion | None:
    try:
        return PackagingVersion(text)
    except PackagingInvalid:
        return None


@settings(max_examples=60, deadline=None, database=None)
@given(pool=st.lists(_pep440s, min_size=20, max_size=20))
def test_generated_pep440_agrees_with_packaging(pool: list[str]) -> None:
    theirs = {text: _packaging(text) for text in pool}
    for text, version in theirs.items():
        try:
            pep440.parse(text)
        except InvalidVersion:
            assert version is None, text
        else:
            assert version is not None, text
    valid = [t for t, v in theirs.items() if v is not None]
    for a, b in itertools.product(valid, repeat=2):
        va, vb = theirs[a], theirs[b]
        assert va is not None and vb is not None
        assert compare("pep440", a, b) == (va > vb) - (va < vb), (a, b)
