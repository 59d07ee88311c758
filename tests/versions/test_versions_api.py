"""The public API: ecosystem names, parse/compare, Version objects, and VersionRanker."""

from __future__ import annotations

import doctest
import random

import pytest

import patchwarden.errors
import patchwarden.versions
from patchwarden.errors import InputError, InvalidVersion, UnknownEcosystem
from patchwarden.versions import (
    ECOSYSTEMS,
    VersionRanker,
    apk,
    base,
    compare,
    deb,
    ecosystem_for,
    parse,
    pep440,
    ranker,
    registry,
    rpm,
    semver,
)


@pytest.mark.parametrize(
    ("name", "ecosystem"),
    [
        ("deb", "deb"),
        ("Debian", "deb"),
        ("debian:12", "deb"),
        ("Ubuntu:22.04:LTS", "deb"),
        ("Ubuntu:Pro:18.04:LTS", "deb"),
        ("Red Hat:enterprise_linux:9::appstream", "rpm"),
        ("ROCKY LINUX:9", "rpm"),
        ("AlmaLinux:8", "rpm"),
        ("openSUSE:Leap 15.5", "rpm"),
        ("SUSE:Linux Enterprise Server 15 SP5", "rpm"),
        ("Fedora", "rpm"),
        ("Mageia:9", "rpm"),
        ("openEuler:22.03-LTS", "rpm"),
        ("Alpine:v3.18", "apk"),
        ("Wolfi", "apk"),
        ("Chainguard", "apk"),
        ("npm", "semver"),
        ("crates.io", "semver"),
        ("Hex", "semver"),
        ("Go", "go"),
        ("PyPI", "pep440"),
        (" pypi ", "pep440"),
        ("Maven", "maven"),
        ("RubyGems", "gem"),
    ],
)
def test_ecosystem_for(name: str, ecosystem: str) -> None:
    assert ecosystem_for(name) == ecosystem
    assert ecosystem in ECOSYSTEMS


@pytest.mark.parametrize("name", ["Packagist", "NuGet", "Pub"])
def test_lookalikes_are_refused_with_the_reason(name: str) -> None:
    with pytest.raises(UnknownEcosystem, match="not .*SemVer"):
        ecosystem_for(name)


def test_unknown_ecosystem_lists_the_known_names() -> None:
    with pytest.raises(UnknownEcosystem) as caught:
        ecosystem_for("Gentoo")
    message = str(caught.value)
    assert message.startswith("unknown ecosystem 'Gentoo'; known: AlmaLinux, Alpine, apk,")
    assert "PyPI" in message and "deb" in message
    assert message.count("Go,") == 1  # 'go' and 'Go' listed once
    assert isinstance(caught.value, InputError)


def test_invalid_version_is_an_input_error_with_reason() -> None:
    with pytest.raises(InvalidVersion) as caught:
        compare("deb", "a:1.0", "1.0")
    assert str(caught.value) == "epoch must be a number: 'a:1.0'"
    assert (caught.value.reason, caught.value.version) == ("epoch must be a number", "a:1.0")
    assert caught.value.exit_code == 2


def test_versions_of_one_ecosystem_order_and_hash() -> None:
    a, b = parse("deb", "1.0~rc1"), parse("Debian:12", "1.0")
    assert a < b and a <= b and b > a and b >= a and a != b
    assert parse("deb", "1.0") == parse("deb", "1.00")
    assert hash(parse("deb", "1.0")) == hash(parse("deb", "1.00"))
    assert sorted(parse("rpm", v) for v in ["1.0", "1.0~rc1", "1.0^1"])[0].text == "1.0~rc1"
    assert repr(a) == "DebVersion('1.0~rc1')" and str(a) == "1.0~rc1"


def test_versions_of_different_ecosystems_do_not_compare() -> None:
    d, r = parse("deb", "1.0"), parse("rpm", "1.0")
    assert d != r
    with pytest.raises(TypeError):
        _ = d < r
    assert parse("semver", "1.0.0") != parse("go", "1.0.0")


@pytest.mark.parametrize(
    ("ecosystem", "a", "b", "expected"),
    [
        ("deb", "1.0", "1.0~rc1", 1),
        ("rpm", "1.0^git1", "1.0", 1),
        ("apk", "1.0_rc1", "1.0", -1),
        ("semver", "1.0.0-rc.1", "1.0.0", -1),
        ("go", "v1.10.0", "v1.9.0", 1),
        ("pep440", "1.0.post1", "1.0", 1),
    ],
)
def test_compare_each_ecosystem(ecosystem: str, a: str, b: str, expected: int) -> None:
    assert compare(ecosystem, a, b) == expected
    assert compare(ecosystem, b, a) == -expected
    assert compare(ecosystem, a, a) == 0


def test_ranker_ranks_equal_versions_alike() -> None:
    r = VersionRanker("Debian:12", ["1.0", "1.00", "1.0~rc1", "1:0.1", "0.9"])
    assert r.ranks() == {"0.9": 0, "1.0~rc1": 1, "1.0": 2, "1.00": 2, "1:0.1": 3}
    assert r.compare("1.0", "1.00") == 0
    assert len(r) == 5


def test_ranker_takes_new_versions_as_they_come() -> None:
    r = VersionRanker("rpm")
    assert r.compare("1.0-1", "1.0-2") == -1  # neither ranked yet
    assert r.rank("1.0-2") > r.rank("1.0-1")
    assert r.compare("0.9", "1.0-1") == -1  # one ranked, one new
    assert r.ranks() == {"0.9": 0, "1.0-1": 1, "1.0-2": 2}


def test_ranker_rejects_invalid_versions_and_keeps_the_rest() -> None:
    r = VersionRanker("apk")
    with pytest.raises(InvalidVersion, match="unknown suffix '_foo'"):
        r.add(["1.0", "1.1", "1.0_foo", "2.0"])
    assert r.ranks() == {"1.0": 0, "1.1": 1}
    with pytest.raises(InvalidVersion):
        r.compare("1.0", "x")
    with pytest.raises(InvalidVersion):
        r.rank("x")
    with pytest.raises(UnknownEcosystem):
        VersionRanker("Gentoo")


def test_ranker_agrees_with_compare_on_a_shuffled_stream() -> None:
    rng = random.Random(7)
    pool = [
        f"{e}{a}.{b}{t}-{r}"
        for e in ("", "1:")
        for a in range(3)
        for b in (0, 1, 10)
        for t in ("", "~rc1", "+b1")
        for r in (1, 2)
    ]
    r = VersionRanker("deb")
    for _ in range(3000):  # new versions trickle in: exercises lazy re-ranking
        a, b = rng.choice(pool), rng.choice(pool)
        assert r.compare(a, b) == compare("deb", a, b), (a, b)
    ranks = r.ranks()
    assert sorted(pool, key=ranks.__getitem__) == sorted(pool, key=lambda v: parse("deb", v))


@pytest.mark.parametrize(
    "module",
    [patchwarden.versions, base, deb, rpm, apk, semver, pep440, registry, ranker],
    ids=lambda m: m.__name__,
)
def test_documented_examples_hold(module) -> None:
    failed, tried = doctest.testmod(module)
    assert failed == 0
    assert tried > 0 or module is base


def test_error_examples_hold() -> None:
    failed, _ = doctest.testmod(patchwarden.errors)
    assert failed == 0
