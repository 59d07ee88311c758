"""Exact version ordering per ecosystem: dpkg, rpm, apk, SemVer, Go, PEP 440, Maven, RubyGems.

Each ecosystem module reproduces its reference tool's rules, including which strings it
rejects, and gives every version a precomputed sort key, so sorting needs no comparator.

Example:
    >>> from patchwarden.versions import compare, ecosystem_for, parse
    >>> compare("Debian:12", "1.0", "1.0~rc1")
    1
    >>> ecosystem_for("Alpine:v3.18")
    'apk'
    >>> sorted(["1.0.post1", "1.0", "1.0rc1"], key=lambda v: parse("PyPI", v))
    ['1.0rc1', '1.0', '1.0.post1']
    >>> compare("Maven", "1.0-SNAPSHOT", "1.0.RELEASE"), compare("RubyGems", "1.0.a", "1.0")
    (-1, -1)

Pure code: no I/O. Imports nothing from patchwarden but :mod:`patchwarden.errors`.
"""

from patchwarden.versions.base import SortKey, Version
from patchwarden.versions.ranker import VersionRanker
from patchwarden.versions.registry import ECOSYSTEMS, compare, ecosystem_for, parse, parser_for

__all__ = [
    "ECOSYSTEMS",
    "SortKey",
    "Version",
    "VersionRanker",
    "compare",
    "ecosystem_for",
    "parse",
    "parser_for",
]
