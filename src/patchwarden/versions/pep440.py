"""Python package versions (PEP 440), ordered exactly as ``packaging.version.Version``.

Syntax: ``[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]``, with the spellings PEP 440 allows
and normalises (``alpha``, ``c``, ``pre``, ``rev``, ``1.0-1``, ``v1.0``, any case,
``-``/``_``/``.`` separators, surrounding whitespace).

Order: epoch, then release (trailing zeros ignored: ``1.0 == 1``), then
``.devN`` < ``aN`` < ``bN`` < ``rcN`` < release < ``.postN``, a ``.devN`` sorting just
before the release, pre- or post-release it is attached to; then the local label, absent
sorting first, its parts compared as numbers or lowercase strings, strings first.

Implemented here, rather than by depending on ``packaging``, to keep a flat precomputed
sort key like the other ecosystems; tests check it against ``packaging``.
"""

from __future__ import annotations

import re

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["Pep440Version", "parse"]

# PEP 440, appendix B, restricted to ASCII digits and letters.
_PATTERN = re.compile(
    r"""
    \s*
    v?
    (?a:  # ASCII only: under IGNORECASE, [a-z] would also match the Kelvin sign
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>
        [._-]?
        (?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)
        [._-]?
        (?P<pre_n>[0-9]+)?
    )?
    (?P<post>
        (?:-(?P<post_n1>[0-9]+))
        |
        (?:[._-]?(?P<post_l>post|rev|r)[._-]?(?P<post_n2>[0-9]+)?)
    )?
    (?P<dev>
        [._-]?
        (?P<dev_l>dev)
        [._-]?
        (?P<dev_n>[0-9]+)?
    )?
    (?:\+(?P<local>[a-z0-9]+(?:[._-][a-z0-9]+)*))?
    )
    \s*
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_DEV_ONLY, _STABLE = -1, 3  # pre-release ranks around a=0, b=1, rc=2
_LOCAL_SEPARATORS = re.compile(r"[._-]")
_MAX_DIGITS = 4300  # int() refuses longer numbers (sys.int_info.default_max_str_digits)


class Pep440Version(Version):
    """A parsed PEP 440 version."""

    __slots__ = ()

    def __init__(self, text: str, key: SortKey) -> None:
        super().__init__("pep440", text, key)


def _int(digits: str | None) -> int:
    return int(digits) if digits else 0


def parse(text: str) -> Pep440Version:
    """Parse a PEP 440 version.

    Args:
        text: for example ``2!1.0.post1.dev3+ubuntu.1``.

    Returns:
        The parsed version, ordered as ``packaging.version.Version``.

    Raises:
        InvalidVersion: for a string PEP 440 does not allow.

    Example:
        >>> parse("1.0.dev1") < parse("1.0a1") < parse("1.0") < parse("1.0.post1")
        True
    """
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise InvalidVersion("not a PEP 440 version (N[.N]*[{a|b|rc}N][.postN][.devN])", text)
    if any(len(run) > _MAX_DIGITS for run in re.findall(r"[0-9]+", text)):
        raise InvalidVersion(f"a number has more than {_MAX_DIGITS} digits", text)
    release = [int(n) for n in match["release"].split(".")]
    while release and release[-1] == 0:  # 1.0.0 == 1
        release.pop()
    has_pre, has_post, has_dev = match["pre"], match["post"], match["dev"]
    if has_pre:
        pre = (_PRE_RANK[match["pre_l"].lower()], _int(match["pre_n"]))
    elif has_dev and not has_post:
        pre = (_DEV_ONLY, 0)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (_STABLE, 0)
    post = (1, _int(match["post_n1"] or match["post_n2"])) if has_post else (0, 0)
    dev = (0, _int(match["dev_n"])) if has_dev else (1, 0)
    local: tuple[tuple[int, str], ...] = ()
    if match["local"]:
        # Strings sort before numbers: (-1, "abc") < (0, 5).
        local = tuple(
            (int(part), "") if part.isdigit() else (-1, part.lower())
            for part in _LOCAL_SEPARATORS.split(match["local"])
        )
    key = (_int(match["epoch"]), tuple(release), (*pre, *post, *dev), local)
    return Pep440Version(text, key)
