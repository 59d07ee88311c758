"""Comparing package versions by hand, exactly as each ecosystem's own tool orders them.

What ``patchwarden version compare`` answers: one pair, or a file of ``A<TAB>B`` lines
where a bad line is answered with its error and the rest still compared.
"""

from __future__ import annotations

from collections.abc import Iterable

from patchwarden.errors import InvalidVersion
from patchwarden.versions import ECOSYSTEMS, VersionRanker

__all__ = ["ECOSYSTEMS", "VersionRanker", "compare_lines", "version_ranker"]


def version_ranker(ecosystem: str) -> VersionRanker:
    """The version ordering of ``ecosystem``: a scheme (``deb``) or an OSV name (``Debian:12``).

    Raises:
        UnknownEcosystem: the ecosystem is unknown; the message lists the known ones.
    """
    return VersionRanker(ecosystem)


def compare_lines(ranker: VersionRanker, lines: Iterable[str]) -> tuple[list[str], int]:
    r"""One answer per ``A<TAB>B`` line: -1, 0, 1 or ``error: line N: <reason>``; and the errors.

    >>> compare_lines(version_ranker("deb"), ["1.0\t1.0~rc1", "1.0", "2.0\t2.0"])
    (['1', "error: line 2: expected 'A<TAB>B', got 1 field(s)", '0'], 1)
    """
    answers: list[str] = []
    errors = 0
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            answers.append(f"error: line {number}: expected 'A<TAB>B', got {len(fields)} field(s)")
            errors += 1
            continue
        try:
            answers.append(str(ranker.compare(fields[0], fields[1])))
        except InvalidVersion as error:
            answers.append(f"error: line {number}: {error}")
            errors += 1
    return answers, errors
