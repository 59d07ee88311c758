"""Rank a fleet's distinct versions once, then compare them as integers.

A fleet reports the same few hundred versions of a package thousands of times. Sorting the
distinct ones once with the exact ordering and numbering them turns every later comparison
into two dictionary look-ups and an integer comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey
from patchwarden.versions.registry import ecosystem_for, parser_for

__all__ = ["VersionRanker"]


class VersionRanker:
    """Exact, fast comparisons among the versions of one ecosystem.

    Versions may be given up front or met later: an unseen version is parsed once and
    compared by its sort key until enough new versions have gathered to re-rank them all
    (at most as many as already ranked, so re-ranking costs O(log n) per version overall).
    Equal versions (``1.0`` and ``1.00`` in Debian) get the same rank.

    Ranks change when versions are added: compare ranks taken from one :meth:`ranks` call
    or through :meth:`compare` and :meth:`rank`, and do not store them.

    Example:
        >>> ranker = VersionRanker("Debian:12", ["1.0", "1.0~rc1", "1:0.9"])
        >>> ranker.compare("1.0~rc1", "1.0"), ranker.compare("1:0.9", "1.0")
        (-1, 1)
        >>> sorted(["1:0.9", "1.0", "1.0~rc1"], key=ranker.rank)
        ['1.0~rc1', '1.0', '1:0.9']
    """

    def __init__(self, ecosystem: str, versions: Iterable[str] = ()) -> None:
        self.ecosystem = ecosystem_for(ecosystem)
        self._parse = parser_for(self.ecosystem)
        self._keys: dict[str, SortKey] = {}
        self._ranks: dict[str, int] = {}
        self._unranked = 0
        self.add(versions)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, versions: Iterable[str]) -> None:
        """Parse the versions not seen yet and re-rank.

        Raises:
            InvalidVersion: for the first invalid version; the valid ones before it stay.
        """
        before = len(self._keys)
        try:
            for text in versions:
                if text not in self._keys:
                    self._keys[text] = self._parse(text).key
        finally:
            if len(self._keys) != before:
                self._rerank()

    def add_valid(self, versions: Iterable[str]) -> None:
        """Parse the versions not seen yet, leaving out the invalid ones, and re-rank.

        One parse a version, where checking each first and then adding it parses twice.

        Example:
            >>> ranker = VersionRanker("Debian:12")
            >>> ranker.add_valid(["1.0", "not a version!", "0.9"])
            >>> ranker.ranks()
            {'0.9': 0, '1.0': 1}
        """
        before = len(self._keys)
        keys, parse = self._keys, self._parse
        for text in versions:
            if text not in keys:
                try:
                    keys[text] = parse(text).key
                except InvalidVersion:
                    continue
        if len(keys) != before:
            self._rerank()

    def _rerank(self) -> None:
        ranks: dict[str, int] = {}
        rank = -1
        previous: SortKey | None = None
        for text, key in sorted(self._keys.items(), key=itemgetter(1)):
            if key != previous:
                rank += 1
                previous = key
            ranks[text] = rank
        self._ranks = ranks
        self._unranked = 0

    def _key(self, text: str) -> SortKey:
        key = self._keys.get(text)
        if key is None:
            key = self._keys[text] = self._parse(text).key
            self._unranked += 1
        return key

    def rank(self, text: str) -> int:
        """Rank of a version among those known; equal versions share a rank.

        Raises:
            InvalidVersion: if ``text`` is new and invalid.
        """
        rank = self._ranks.get(text)
        if rank is None:
            self._key(text)
            self._rerank()
            rank = self._ranks[text]
        return rank

    def ranks(self) -> dict[str, int]:
        """Every known version and its rank (a copy, consistent within itself)."""
        if self._unranked:
            self._rerank()
        return dict(self._ranks)

    def compare(self, a: str, b: str) -> int:
        """Compare two versions exactly: -1 if ``a`` is older, 0 if equal, 1 if newer.

        Raises:
            InvalidVersion: for an invalid version, with the reason.
        """
        ranks = self._ranks
        ra = ranks.get(a)
        rb = ranks.get(b)
        if ra is not None and rb is not None:
            return (ra > rb) - (ra < rb)
        ka, kb = self._key(a), self._key(b)
        if self._unranked > len(self._ranks):
            self._rerank()
        return (ka > kb) - (ka < kb)
