r"""RubyGems versions, validated and ordered exactly as ``Gem::Version`` (RubyGems 3.3).

Rules (rubygems/version.rb ``correct?``, ``initialize``, ``canonical_segments``, ``<=>``):

* Valid: ``\A\s*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*\z``,
  so surrounding ASCII whitespace is allowed and a blank string means ``0``.
* Every ``-`` becomes ``.pre.``: ``1.0-rc1`` is ``1.0.pre.rc1``.
* Segments are the runs of digits (numbers) and of letters (strings): ``1.0.rc10`` is
  ``1, 0, "rc", 10``. Trailing zeros are dropped twice: from the numbers before the first
  string and from the segments after it, so ``1.0.a.0`` equals ``1.a``.
* Segments compare one by one, a missing one as 0: a string is below any number, strings
  compare by bytes (``"B"`` < ``"a"``), numbers by value. A version with a letter is a
  prerelease and sorts before its release: ``1.0.a`` < ``1.0.b1`` < ``1.0`` < ``1.0.1``.
"""

from __future__ import annotations

import re

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["GemVersion", "parse"]

# Gem::Version::ANCHORED_VERSION_PATTERN; Ruby's \s is ASCII whitespace, as with re.ASCII.
_PATTERN = re.compile(
    r"\s*(?:[0-9]+(?>\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?\s*", re.ASCII
)
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")
_ALLOWED = re.compile(r"[0-9A-Za-z.\-\s]", re.ASCII)
_END = (0,)  # the end of the segments: 0 from here on; segment keys start with -1 or 1


class GemVersion(Version):
    """A parsed RubyGems version.

    Attributes:
        version: Ruby's ``Gem::Version#version``: stripped, ``-`` written as ``.pre.``.
        prerelease: whether it has a letter, as ``Gem::Version#prerelease?``.
    """

    __slots__ = ("prerelease", "version")

    def __init__(self, text: str, version: str, key: SortKey) -> None:
        super().__init__("gem", text, key)
        self.version = version
        self.prerelease = any(c.isalpha() for c in version)


def _reason(text: str) -> str:
    """Say why RubyGems calls ``text`` a "Malformed version number string", for a person."""
    bad = next((c for c in text if not _ALLOWED.fullmatch(c)), None)
    if bad is not None:
        return f"character {bad!r} is not allowed in a gem version"
    core = text.strip(" \t\n\v\f\r")
    if any(c in " \t\n\v\f\r" for c in core):
        return "spaces are allowed only around the version"
    if not core[:1].isdigit():
        return "a gem version must start with a number"
    release, _, pre = core.partition("-")
    if not re.fullmatch(r"[0-9]+(?:\.[0-9a-zA-Z]+)*", release):
        return "release segments are numbers and letters joined by single dots, first a number"
    return "'-' must be followed by letters, digits or '-', joined by single dots"


def _order(segment: str) -> tuple[int, SortKey]:
    """How a segment compares with 0 (-1, 0, 1), and its key among segments."""
    if segment.isdigit():
        digits = segment.lstrip("0")
        # Numbers by length, then digits: no int() digit limit, and leading zeros ignored.
        return (1 if digits else 0), (1, len(digits), digits)
    return -1, (0, segment)


def _drop_trailing_zeros(segments: list[str]) -> list[str]:
    while segments and segments[-1].isdigit() and not segments[-1].lstrip("0"):
        segments.pop()
    return segments


def parse(text: str) -> GemVersion:
    """Parse a RubyGems version as ``Gem::Version.new`` does.

    Args:
        text: for example ``3.0.0.alpha.5.0.3`` or ``1.2.3-rc.1``.

    Returns:
        The parsed version, ordered exactly as ``Gem::Version#<=>``.

    Raises:
        InvalidVersion: where ``Gem::Version.correct?`` is false, with the reason.

    Example:
        >>> parse("1.0.a") < parse("1.0.b1") < parse("1.0") < parse("1.0.1")
        True
        >>> parse("1.0-rc1").version, parse("1.0.0.a.1.0") == parse("1.a.1")
        ('1.0.pre.rc1', True)
    """
    if not _PATTERN.fullmatch(text):
        raise InvalidVersion(_reason(text), text)
    version = text.strip(" \t\n\v\f\r").replace("-", ".pre.") or "0"
    segments = _SEGMENT.findall(version)
    first_string = next((i for i, s in enumerate(segments) if not s.isdigit()), len(segments))
    canonical = _drop_trailing_zeros(segments[:first_string])
    canonical += _drop_trailing_zeros(segments[first_string:])
    # Ruby pads the shorter version with 0s. Each key starts with how the segments from it
    # on compare with all zeros (never 0: canonical segments do not end in 0), so the end
    # marker (0,) sorts exactly where the padding does.
    keys: list[SortKey] = []
    rest = 0
    for segment in reversed(canonical):
        sign, key = _order(segment)
        rest = sign or rest
        keys.append((rest, *key))
    keys.reverse()
    keys.append(_END)
    return GemVersion(text, version, tuple(keys))
