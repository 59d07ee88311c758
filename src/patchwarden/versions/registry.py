"""Ecosystem names: the canonical ones, OSV's aliases, and a parser for each."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from patchwarden.errors import UnknownEcosystem
from patchwarden.versions import apk, deb, gem, maven, pep440, rpm, semver
from patchwarden.versions.base import Version

__all__ = ["ECOSYSTEMS", "compare", "ecosystem_for", "parse", "parser_for"]

_PARSERS: dict[str, Callable[[str], Version]] = {
    "deb": deb.parse,
    "rpm": rpm.parse,
    "apk": apk.parse,
    "semver": semver.parse,
    "go": semver.parse_go,
    "pep440": pep440.parse,
    "maven": maven.parse,
    "gem": gem.parse,
}
ECOSYSTEMS: tuple[str, ...] = tuple(_PARSERS)
"""Canonical ecosystem names, each with its own ordering rules."""

# OSV ecosystem names (osv-schema), as OSV spells them, and the rules their versions follow.
_OSV_NAMES: dict[str, str] = {
    "Debian": "deb",
    "Ubuntu": "deb",
    "Red Hat": "rpm",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "Fedora": "rpm",
    "Mageia": "rpm",
    "openEuler": "rpm",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "npm": "semver",
    "crates.io": "semver",
    "Hex": "semver",
    "Go": "go",
    "PyPI": "pep440",
    "Maven": "maven",
    "RubyGems": "gem",
}
# Look-alikes whose versions are not SemVer: a wrong mapping would order them wrongly.
_NOT_SUPPORTED: dict[str, str] = {
    "packagist": "Composer versions are not SemVer",
    "nuget": "NuGet versions have four parts and case-insensitive labels, not SemVer",
    "pub": "Dart pub versions are not exactly SemVer",
}
_BY_NAME: dict[str, str] = {name.casefold(): eco for name, eco in _OSV_NAMES.items()} | {
    eco: eco for eco in ECOSYSTEMS
}
# For error messages: each name once, OSV's spelling where it differs only by case ("Go").
_KNOWN = sorted({n.casefold(): n for n in [*ECOSYSTEMS, *_OSV_NAMES]}.values(), key=str.casefold)


def ecosystem_for(name: str) -> str:
    """Return the canonical ecosystem for a canonical or OSV ecosystem name.

    Case does not matter, and an OSV release suffix after the first ``:`` is ignored.

    Args:
        name: ``deb``, ``Debian:12``, ``Ubuntu:22.04:LTS``, ``Alpine:v3.18``, ``PyPI``, ...

    Returns:
        One of :data:`ECOSYSTEMS`.

    Raises:
        UnknownEcosystem: for a name with no known ordering, listing the known names.

    Example:
        >>> ecosystem_for("Ubuntu:22.04:LTS"), ecosystem_for("red hat"), ecosystem_for("Go")
        ('deb', 'rpm', 'go')
    """
    base = name.partition(":")[0].strip().casefold()
    found = _BY_NAME.get(base)
    if found is None:
        raise UnknownEcosystem(name, _KNOWN, _NOT_SUPPORTED.get(base, ""))
    return found


def parser_for(ecosystem: str) -> Callable[[str], Version]:
    """Return the parse function of an ecosystem (canonical or OSV name)."""
    return _PARSERS[ecosystem_for(ecosystem)]


# Fleets report the same few versions over and over; parsing is pure, so cache it.
@lru_cache(maxsize=16384)
def _parse_cached(ecosystem: str, text: str) -> Version:
    return _PARSERS[ecosystem](text)


def parse(ecosystem: str, text: str) -> Version:
    """Parse a version of an ecosystem into an orderable :class:`Version`.

    Args:
        ecosystem: canonical or OSV ecosystem name.
        text: the version string.

    Returns:
        The parsed version; versions of one ecosystem compare with ``<``, ``==``, ...

    Raises:
        UnknownEcosystem: for an unknown ecosystem name.
        InvalidVersion: for a version the ecosystem's tool would reject, with the reason.

    Example:
        >>> parse("Debian:12", "1.0~rc1") < parse("deb", "1.0")
        True
    """
    return _parse_cached(ecosystem_for(ecosystem), text)


def compare(ecosystem: str, a: str, b: str) -> int:
    """Compare two versions of an ecosystem exactly as its own tool does.

    Args:
        ecosystem: canonical or OSV ecosystem name.
        a: a version.
        b: another version.

    Returns:
        -1 if ``a`` is older than ``b``, 0 if they are equal, 1 if ``a`` is newer.

    Raises:
        UnknownEcosystem: for an unknown ecosystem name.
        InvalidVersion: for either version being invalid, with the reason.

    Example:
        >>> compare("rpm", "1.0^git1", "1.0"), compare("apk", "1.0_rc1", "1.0")
        (1, -1)
    """
    eco = ecosystem_for(ecosystem)
    ka, kb = _parse_cached(eco, a).key, _parse_cached(eco, b).key
    return (ka > kb) - (ka < kb)
