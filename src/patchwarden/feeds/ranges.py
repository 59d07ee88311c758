"""OSV's rules for "is this version affected?", compiled into intervals once per record.

The OSV schema evaluates a range by walking its events in version order: ``introduced``
opens, ``fixed`` closes before itself, ``last_affected`` closes after itself, and ``limit``
(when present) caps the whole range. Walking events per version per host is wasteful, so a
range is turned once into half-open intervals over *positions*, where a position is any
orderable stand-in for a version: an integer rank from
:class:`~patchwarden.versions.VersionRanker` on hot paths, or a parsed sort key.

A version is affected when it is in the ``versions`` list or inside an interval of an
ECOSYSTEM or SEMVER range. GIT ranges name commits, which installed package versions are
not, so they never match a version here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from patchwarden.domain.advisories import Affected, Range
from patchwarden.errors import InvalidVersion, UnknownEcosystem
from patchwarden.versions import ecosystem_for, parse

__all__ = [
    "CompiledAffected",
    "Interval",
    "compile_affected",
    "is_affected",
    "range_scheme",
    "scheme_of",
    "versions_to_rank",
]

Position = Any
"""An orderable stand-in for a version (an ``int`` rank or a sort key); ``None`` = unbounded."""


@dataclass(frozen=True, slots=True)
class Interval:
    """Affected positions ``start <= p`` and ``p < end`` (``p <= end`` if ``end_inclusive``).

    Positions are those of ``scheme``'s ordering. ``fixed`` is the version that closes the
    interval when it was a ``fixed`` event, else ``""`` (open-ended, or closed by
    ``last_affected``: the fix is not known).
    """

    scheme: str
    start: Position | None
    end: Position | None
    end_inclusive: bool
    fixed: str

    def contains(self, position: Position) -> bool:
        """Whether a position lies inside."""
        if self.start is not None and position < self.start:
            return False
        if self.end is None:
            return True
        return bool(position <= self.end if self.end_inclusive else position < self.end)


@dataclass(frozen=True, slots=True)
class CompiledAffected:
    """One ``affected`` entry, ready to test positions against."""

    scheme: str
    versions: frozenset[str]
    intervals: tuple[Interval, ...]
    fixes: tuple[tuple[str, Position, str], ...]
    """Every ``fixed`` event as ``(scheme, position, version)``, lowest first."""

    @property
    def schemes(self) -> frozenset[str]:
        """The orderings the intervals use (usually one)."""
        return frozenset(i.scheme for i in self.intervals)

    def verdict(self, version: str, positions: dict[str, Position]) -> tuple[bool, str]:
        """``(affected, fixed)`` for a version, given its position in each ordering.

        A scheme missing from ``positions`` means the version is not valid there, so no
        interval of that scheme contains it. ``fixed`` is the version closing the interval
        the version is in, or for a version only listed in ``versions``, the lowest fix
        above it; ``""`` if none is known.
        """
        for interval in self.intervals:
            position = positions.get(interval.scheme)
            if position is not None and interval.contains(position):
                return True, interval.fixed
        if version in self.versions:
            for scheme, fix_position, fix in self.fixes:
                position = positions.get(scheme)
                if position is not None and fix_position > position:
                    return True, fix
            return True, ""
        return False, ""


def scheme_of(ecosystem: str) -> str:
    """The version ordering of an OSV ecosystem, or ``""`` if patchwarden has none.

    Example:
        >>> scheme_of("Ubuntu:22.04:LTS"), scheme_of("Maven"), scheme_of("Packagist")
        ('deb', 'maven', '')
    """
    try:
        return ecosystem_for(ecosystem) if ecosystem else ""
    except UnknownEcosystem:
        return ""


def range_scheme(scheme: str, rng: Range) -> str:
    """The ordering a range's versions follow: SEMVER ranges are SemVer, GIT ones none.

    Go's SEMVER ranges keep Go's own flavour of SemVer.
    """
    if rng.type == "SEMVER":
        return scheme if scheme in ("semver", "go") else "semver"
    return scheme if rng.type == "ECOSYSTEM" else ""


def versions_to_rank(affected: Affected, scheme: str) -> Iterator[tuple[str, str]]:
    """Every ``(scheme, version)`` a compiled entry needs a position for."""
    for rng in affected.ranges:
        own = range_scheme(scheme, rng)
        if not own:
            continue
        for event in rng.events:
            for value in (event.introduced, event.fixed, event.last_affected, event.limit):
                if value is not None and value not in ("0", "*"):
                    yield own, value


def compile_affected(
    affected: Affected, position: Callable[[str, str], Position]
) -> CompiledAffected:
    """Compile an entry's ranges into intervals over ``position(scheme, version)``.

    Args:
        affected: The entry.
        position: Maps a range version to its position; every position handed out must be
            comparable with the ones for installed versions of the same scheme.

    Example:
        >>> from patchwarden.domain.advisories import RangeEvent
        >>> rng = Range(type="ECOSYSTEM", events=(RangeEvent(introduced="1.0"),
        ...                                       RangeEvent(fixed="1.5")))
        >>> c = compile_affected(Affected(ecosystem="PyPI", package="x", ranges=(rng,)),
        ...                      lambda s, v: parse(s, v).key)
        >>> at = {v: {"pep440": parse("PyPI", v).key} for v in ("1.2", "1.5")}
        >>> c.verdict("1.2", at["1.2"]), c.verdict("1.5", at["1.5"])
        ((True, '1.5'), (False, ''))
    """
    scheme = scheme_of(affected.ecosystem)
    intervals: list[Interval] = []
    fixes: list[tuple[str, Position, str]] = []
    for rng in affected.ranges:
        own = range_scheme(scheme, rng)
        if not own:
            continue
        events: list[tuple[int, Position, str, str]] = []  # (order, position, kind, version)
        limits: list[Position] = []
        for event in rng.events:
            if event.introduced is not None:
                start = None if event.introduced == "0" else position(own, event.introduced)
                events.append((0 if start is None else 1, start, "introduced", event.introduced))
            elif event.fixed is not None:
                events.append((1, position(own, event.fixed), "fixed", event.fixed))
                fixes.append((own, position(own, event.fixed), event.fixed))
            elif event.last_affected is not None:
                at = position(own, event.last_affected)
                events.append((1, at, "last_affected", event.last_affected))
            elif event.limit is not None and event.limit != "*":
                limits.append(position(own, event.limit))
        # "0" sorts first; the rest by position. sort() is stable, so on equal versions the
        # record's own event order decides, as in the OSV reference evaluation.
        events.sort(key=lambda e: (e[0], e[1]) if e[0] else (0, 0))
        intervals.extend(_walk(own, events, max(limits) if limits else None))
    fixes.sort(key=lambda f: (f[0], f[1]))
    return CompiledAffected(scheme, frozenset(affected.versions), tuple(intervals), tuple(fixes))


def _walk(
    scheme: str, events: list[tuple[int, Position, str, str]], limit: Position | None
) -> list[Interval]:
    out: list[Interval] = []
    opened = False
    start: Position | None = None
    for _, at, kind, version in events:
        if kind == "introduced":
            if not opened:
                opened, start = True, at
        elif opened:
            fixed = version if kind == "fixed" else ""
            out.append(Interval(scheme, start, at, kind == "last_affected", fixed))
            opened = False
    if opened:
        out.append(Interval(scheme, start, None, False, ""))
    if limit is None:
        return out
    capped = []
    for interval in out:
        if interval.start is not None and interval.start >= limit:
            continue
        if interval.end is None or interval.end >= limit:
            interval = Interval(scheme, interval.start, limit, False, interval.fixed)
        capped.append(interval)
    return capped


def is_affected(affected: Affected, version: str) -> tuple[bool, str]:
    """``(affected, fixed)`` for one version, using parsed sort keys (no ranking).

    For single questions and tests; fleets go through :class:`CompiledAffected` with ranks.

    Example:
        >>> from patchwarden.domain.advisories import RangeEvent
        >>> rng = Range(type="ECOSYSTEM", events=(RangeEvent(introduced="0"),
        ...                                       RangeEvent(fixed="1:1.0-1")))
        >>> is_affected(Affected(ecosystem="Debian:12", package="x", ranges=(rng,)), "1.0-1")
        (True, '1:1.0-1')
    """
    compiled = compile_affected(affected, lambda s, v: parse(s, v).key)
    positions = {}
    for scheme in compiled.schemes:
        try:
            positions[scheme] = parse(scheme, version).key
        except InvalidVersion:
            continue  # not a version of this ordering: no interval of it can hold it
    return compiled.verdict(version, positions)
