"""The parsed-version type every ecosystem module returns.

A parsed version carries a precomputed sort key: a plain tuple whose ordering is exactly
the ecosystem tool's ordering. Comparing two versions is then one tuple comparison done in
C, and a set of versions sorts with ``sorted(versions)`` and no comparator callback.
"""

from __future__ import annotations

__all__ = ["SortKey", "Version"]

# Nested tuples of ints and strs; the shape is private to each ecosystem module.
SortKey = tuple[object, ...]


class Version:
    """A version of one ecosystem, ordered exactly as that ecosystem's own tool orders it.

    Versions of different ecosystems do not compare: ``<`` raises ``TypeError`` and ``==``
    is False. Equal versions (``1.0`` and ``1.00`` in Debian) are ``==`` and hash alike,
    even when their text differs; ``text`` keeps what was parsed. Parsed versions are
    cached and shared: treat them as immutable.

    Attributes:
        ecosystem: canonical ecosystem name (``deb``, ``rpm``, ``apk``, ...).
        text: the version string as given.
        key: the sort key; only keys of the same ecosystem are comparable.
    """

    __slots__ = ("ecosystem", "key", "text")

    def __init__(self, ecosystem: str, text: str, key: SortKey) -> None:
        self.ecosystem = ecosystem
        self.text = text
        self.key = key

    def _other_key(self, other: object) -> SortKey | None:
        if isinstance(other, Version) and other.ecosystem == self.ecosystem:
            return other.key
        return None

    def __lt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.key < key

    def __le__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.key <= key

    def __gt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.key > key

    def __ge__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.key >= key

    def __eq__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self.key == key

    def __hash__(self) -> int:
        return hash((self.ecosystem, self.key))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def __str__(self) -> str:
        return self.text
