"""Semantic Versioning 2.0.0 (semver.org), and Go module versions built on it.

Precedence (SemVer section 11): major, minor and patch compare numerically; a version with
a pre-release is lower than the same version without; pre-release identifiers compare one
by one, numeric ones as numbers and below alphanumeric ones, which compare as ASCII; a
longer list of identifiers wins when all before are equal. Build metadata (``+...``) is
ignored, so ``1.0.0+a`` and ``1.0.0+b`` compare equal.

Go module versions are SemVer with a ``v`` prefix (``v1.2.3``, pseudo-versions such as
``v0.0.0-20240101120000-abcdef123456``, ``+incompatible``); OSV writes them without the
``v``, so both spellings are accepted.
"""

from __future__ import annotations

import re

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["SemVersion", "parse", "parse_go"]

_NUMBER = r"0|[1-9][0-9]*"
_IDENTIFIER = r"0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
# The regular expression semver.org suggests, restricted to ASCII digits.
_SEMVER = re.compile(
    rf"(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>(?:{_IDENTIFIER})(?:\.(?:{_IDENTIFIER}))*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_RELEASE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
# No pre-release sorts after any pre-release: (1,) > (0, ...).
_NO_PRE = (1,)


class SemVersion(Version):
    """A parsed semantic version: ``major``, ``minor``, ``patch``, ``prerelease``, ``build``."""

    __slots__ = ("build", "major", "minor", "patch", "prerelease")

    def __init__(
        self,
        ecosystem: str,
        text: str,
        numbers: tuple[int, int, int],
        prerelease: str,
        build: str,
        key: SortKey,
    ) -> None:
        super().__init__(ecosystem, text, key)
        self.major, self.minor, self.patch = numbers
        self.prerelease = prerelease
        self.build = build


def _reason(text: str) -> str:
    """Say why ``text`` is not SemVer, for a person."""
    core = re.split(r"[-+]", text, maxsplit=1)[0]
    if text[:1] in ("v", "V"):
        return "SemVer has no 'v' prefix"
    bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in ".+-"))), None)
    if bad is not None:
        return f"character {bad!r} is not allowed in SemVer"
    if not _RELEASE.fullmatch(core):
        return "must start with MAJOR.MINOR.PATCH, three numbers"
    if any(len(n) > 1 and n.startswith("0") for n in core.split(".")):
        return "numbers may not have leading zeros"
    return "pre-release and build must be dot-separated [0-9A-Za-z-] identifiers, no leading zeros"


def _parse(ecosystem: str, text: str, shown: str) -> SemVersion:
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise InvalidVersion(_reason(text), shown)
    numbers = (int(match["major"]), int(match["minor"]), int(match["patch"]))
    pre = match["pre"] or ""
    pre_key: SortKey = _NO_PRE
    if pre:
        # Numeric identifiers sort before alphanumeric ones: (0, n) < (1, s).
        pre_key = (
            0,
            tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")),
        )
    return SemVersion(ecosystem, shown, numbers, pre, match["build"] or "", (*numbers, pre_key))


def parse(text: str) -> SemVersion:
    """Parse a SemVer 2.0.0 version (no ``v`` prefix, no surrounding spaces).

    Args:
        text: for example ``1.0.0-rc.1+build.5``.

    Returns:
        The parsed version, ordered by SemVer precedence.

    Raises:
        InvalidVersion: for a string that is not SemVer 2.0.0, with the reason.

    Example:
        >>> parse("1.0.0-alpha.1") < parse("1.0.0-alpha.beta") < parse("1.0.0")
        True
    """
    return _parse("semver", text, text)


def parse_go(text: str) -> SemVersion:
    """Parse a Go module version: SemVer 2.0.0 with an optional ``v`` prefix.

    Example:
        >>> parse_go("v1.2.3") == parse_go("1.2.3+incompatible")
        True
    """
    return _parse("go", text[1:] if text.startswith("v") else text, text)
