"""Match installed packages against advisories: which asset is exposed by what, and the fix.

Fleets repeat themselves: thousands of hosts carry the same (package, version). Matching
therefore works on the fleet's *distinct* (ecosystem, release, package, version) tuples:

1. :class:`InstalledTable` interns every tuple once and keeps each host as a compact array
   of tuple ids (4 bytes a package instead of two strings in a dict).
2. :class:`AdvisoryIndex` groups advisories by (ecosystem, package). For each group it ranks
   every version it will meet once (range events, installed versions, fix candidates) with
   :class:`~patchwarden.versions.VersionRanker`, compiles the OSV ranges into integer
   intervals, and evaluates each distinct installed version against them.
3. :func:`match_table` fans the verdicts out to hosts with one C-level set intersection
   per host.

Each verdict carries the fixed version per advisory and the *recommended target*: the
smallest known version that fixes every finding on that package (known versions are the
advisories' fix versions plus, when given, the versions a repository offers). Findings
with no fix are kept and flagged.

Debian's and Ubuntu's advisories name source packages: there a binary is matched as its
source at the source's version, and the verdict is turned back into one for the binary
(which binaries a record names, which binary version carries the fix), by the rules of
:mod:`patchwarden.assess.sources`. Findings name the binary.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from patchwarden.assess.sources import binary_name, binary_target, listed_binaries, source_keyed
from patchwarden.domain.advisories import Advisory, Affected, Finding
from patchwarden.domain.ecosystems import asset_ecosystem, osv_release
from patchwarden.domain.inventory import Inventory
from patchwarden.feeds.ranges import CompiledAffected, compile_affected, scheme_of, versions_to_rank
from patchwarden.versions import VersionRanker

__all__ = [
    "AdvisoryIndex",
    "Exposure",
    "Hit",
    "InstalledTable",
    "TableMatch",
    "match_findings",
    "match_table",
    "split_ecosystem",
]


@lru_cache(maxsize=1024)
def split_ecosystem(osv_ecosystem: str) -> tuple[str, str]:
    """``"Ubuntu:Pro:22.04:LTS"`` -> ``("ubuntu", "22.04")``; no release -> ``""``.

    Example:
        >>> split_ecosystem("Alpine:v3.19"), split_ecosystem("AlmaLinux:9.4")
        (('alpine', '3.19'), ('almalinux', '9'))
    """
    base, *rest = osv_ecosystem.split(":")
    base = base.strip().lower()
    release = next((p.strip().lstrip("v") for p in rest if any(c.isdigit() for c in p)), "")
    return base, osv_release(base, release)


@dataclass(frozen=True, slots=True)
class Hit:
    """An advisory affecting an installed version, and the version that fixes it (or ``""``)."""

    advisory: Advisory
    fixed: str


@dataclass(frozen=True, slots=True)
class Exposure:
    """Everything one installed (ecosystem, package, version) is exposed to."""

    hits: tuple[Hit, ...]
    recommended: str
    """Smallest known version fixing every hit that has a fix; ``""`` if none does."""

    @property
    def no_fix(self) -> bool:
        """Whether some hit has no known fix yet."""
        return any(not hit.fixed for hit in self.hits)


_NOTHING = Exposure((), "")


@dataclass(slots=True)
class _Entry:
    advisory: Advisory
    affected: Affected
    release: str


@dataclass(slots=True)
class _Group:
    """The advisories of one (ecosystem, package)."""

    scheme: str
    entries: list[_Entry] = field(default_factory=list)


class AdvisoryIndex:
    """Advisories indexed by (ecosystem, package), with a cache of verdicts.

    Args:
        advisories: The catalog; withdrawn advisories are left out.
        available: Optional versions a repository offers, by (OSV ecosystem, package):
            they become candidates for the recommended target next to the fix versions.
    """

    def __init__(
        self,
        advisories: Iterable[Advisory],
        available: Mapping[tuple[str, str], Iterable[str]] | None = None,
    ) -> None:
        self.advisories: dict[str, Advisory] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        # (ecosystem base, source, advisory id) -> [(release, binary -> version)]: the
        # binaries Ubuntu's records list, where they list them.
        self._binaries: dict[tuple[str, str, str], list[tuple[str, dict[str, str]]]] = {}
        for advisory in advisories:
            if advisory.withdrawn is not None:
                continue
            self.advisories[advisory.id] = advisory
            for affected in advisory.affected:
                base, release = split_ecosystem(affected.ecosystem)
                group = self._groups.get((base, affected.package))
                if group is None:
                    group = _Group(scheme_of(affected.ecosystem))
                    self._groups[(base, affected.package)] = group
                group.entries.append(_Entry(advisory, affected, release))
                listed = listed_binaries(affected.ecosystem_specific)
                if listed is not None and source_keyed(base):
                    key = (base, affected.package, advisory.id)
                    self._binaries.setdefault(key, []).append((release, listed))
        self._available: dict[tuple[str, str], set[str]] = defaultdict(set)
        for (ecosystem, package), versions in (available or {}).items():
            self._available[(split_ecosystem(ecosystem)[0], package)].update(versions)
        self._cache: dict[tuple[str, str, str, str], Exposure] = {}

    def lookup(self, osv_ecosystem: str, package: str, version: str) -> list[tuple[Advisory, str]]:
        """Advisories affecting this package version, each with its fixed version (or ``""``).

        Example:
            >>> AdvisoryIndex([]).lookup("Debian:12", "openssl", "3.0.11-1~deb12u2")
            []
        """
        exposure = self.exposures([(osv_ecosystem, package, version)])[0]
        return [(hit.advisory, hit.fixed) for hit in exposure.hits]

    def exposures(self, installed: Iterable[tuple[str, str, str]]) -> list[Exposure]:
        """The exposure of each ``(OSV ecosystem, package, version)``, in the given order.

        Versions of one package are evaluated together, so each package's versions are
        ranked and its ranges compiled once per call; repeat tuples cost a dict look-up.
        """
        keys = [(*split_ecosystem(e), p, v) for e, p, v in installed]
        todo: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for base, release, package, version in keys:
            if (base, release, package, version) not in self._cache:
                if (base, package) in self._groups:
                    todo[(base, package)].add((release, version))
                else:
                    self._cache[(base, release, package, version)] = _NOTHING
        for (base, package), wanted in todo.items():
            verdicts = self._evaluate(base, package, self._groups[(base, package)], wanted)
            for (release, version), exposure in verdicts.items():
                self._cache[(base, release, package, version)] = exposure
        return [self._cache[key] for key in keys]

    def for_binary(
        self,
        osv_ecosystem: str,
        binary: str,
        binary_version: str,
        source: tuple[str, str],
        exposure: Exposure,
    ) -> Exposure:
        """The exposure of ``binary`` built from ``source`` (name, version), whose is given.

        Keeps the hits of records that list no binaries or list this one, and turns each
        fixed version of the source into the binary's (:func:`~patchwarden.assess.sources.\
binary_target`).

        Example:
            >>> index = AdvisoryIndex([])
            >>> index.for_binary("Debian:12", "libssl3", "1.0-1+b1", ("openssl", "1.0-1"),
            ...                  Exposure((), "")).hits
            ()
        """
        if not exposure.hits:
            return exposure
        base, release = split_ecosystem(osv_ecosystem)
        name = binary_name(binary)
        hits: list[Hit] = []
        targets: dict[str, str] = {}
        for hit in exposure.hits:
            listed = self._listed(base, release, source[0], hit.advisory.id)
            if listed is not None and name not in listed:
                continue
            own = (listed or {}).get(name, "")
            fixed = binary_target(binary_version, source[1], hit.fixed, own)
            targets.setdefault(hit.fixed, fixed)
            hits.append(Hit(hit.advisory, fixed))
        if not hits:
            return _NOTHING
        if len(hits) == len(exposure.hits) and all(
            new.fixed == old.fixed for new, old in zip(hits, exposure.hits, strict=True)
        ):
            return exposure  # the usual case: the binary is its source, at its version
        recommended = targets.get(exposure.recommended) or binary_target(
            binary_version, source[1], exposure.recommended
        )
        return Exposure(tuple(hits), recommended if any(h.fixed for h in hits) else "")

    def _listed(self, base: str, release: str, source: str, advisory: str) -> dict[str, str] | None:
        """The binaries a record lists for ``source`` in ``release``; ``None`` if none."""
        found: dict[str, str] | None = None
        for entry_release, listed in self._binaries.get((base, source, advisory), ()):
            if entry_release and release and entry_release != release:
                continue
            found = {**(found or {}), **listed}
        return found

    def _evaluate(
        self, base: str, package: str, group: _Group, wanted: set[tuple[str, str]]
    ) -> dict[tuple[str, str], Exposure]:
        rankers = _rank(group, {v for _, v in wanted} | self._available.get((base, package), set()))
        ranks = {scheme: ranker.ranks() for scheme, ranker in rankers.items()}
        compiled = [_compile(entry.affected, ranks) for entry in group.entries]
        candidates = sorted(
            {fix for c in compiled for _, _, fix in c.fixes} | self._available[(base, package)]
        )
        out: dict[tuple[str, str], Exposure] = {}
        for release, version in wanted:
            positions = _positions(version, ranks)
            hit_entries: dict[str, list[CompiledAffected]] = defaultdict(list)
            for entry, entry_compiled in zip(group.entries, compiled, strict=True):
                if entry.release and release and entry.release != release:
                    continue
                if entry_compiled.verdict(version, positions)[0]:
                    hit_entries[entry.advisory.id].append(entry_compiled)
            if not hit_entries:
                out[(release, version)] = _NOTHING
                continue
            above = _above(version, candidates, ranks, group.scheme)
            hits: list[Hit] = []
            fixable: list[CompiledAffected] = []  # the entries of advisories with a fix
            for advisory_id, entries in sorted(hit_entries.items()):
                fixed = _smallest_fix(entries, above, ranks)
                hits.append(Hit(self.advisories[advisory_id], fixed))
                if fixed:
                    fixable.extend(entries)
            recommended = _smallest_fix(fixable, above, ranks) if fixable else ""
            out[(release, version)] = Exposure(tuple(hits), recommended)
        return out


def _rank(group: _Group, installed: set[str]) -> dict[str, VersionRanker]:
    """One ranker per ordering the group's ranges use, holding every version met."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for entry in group.entries:
        for scheme, version in versions_to_rank(entry.affected, group.scheme):
            wanted[scheme].add(version)
    if group.scheme:
        wanted.setdefault(group.scheme, set())  # installed versions get ranks even so
    rankers = {}
    for scheme, versions in wanted.items():
        ranker = rankers[scheme] = VersionRanker(scheme)
        ranker.add_valid(versions | installed)  # invalid versions get no rank
    return rankers


def _compile(affected: Affected, ranks: Mapping[str, Mapping[str, int]]) -> CompiledAffected:
    try:
        return compile_affected(affected, lambda scheme, version: ranks[scheme][version])
    except KeyError:
        # A range version its ordering rejects (records parsed before validation existed):
        # fall back to the record's explicit versions list rather than guessing an order.
        return compile_affected(affected.model_copy(update={"ranges": ()}), lambda s, v: 0)


def _positions(version: str, ranks: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    return {scheme: table[version] for scheme, table in ranks.items() if version in table}


def _above(
    version: str, candidates: list[str], ranks: Mapping[str, Mapping[str, int]], scheme: str
) -> list[str]:
    """Candidates newer than ``version`` in the ecosystem's order, oldest first."""
    table = ranks.get(scheme)
    if not table or version not in table:
        return []
    here = table[version]
    newer = [c for c in candidates if table.get(c, -1) > here]
    return sorted(newer, key=table.__getitem__)


def _smallest_fix(
    entries: list[CompiledAffected], above: list[str], ranks: Mapping[str, Mapping[str, int]]
) -> str:
    """The oldest candidate that none of ``entries`` affects; ``""`` if there is none."""
    for candidate in above:
        positions = _positions(candidate, ranks)
        if not any(entry.verdict(candidate, positions)[0] for entry in entries):
            return candidate
    return ""


# -- the fleet ---------------------------------------------------------------------------


class InstalledTable:
    """A fleet's installed packages, interned: each distinct tuple once, hosts as id arrays.

    Example:
        >>> table = InstalledTable()
        >>> table.add_host("web-1", "Debian:12", {"openssl": "3.0.11-1~deb12u2"})
        >>> table.add_host("web-2", "Debian:12", {"openssl": "3.0.11-1~deb12u2"})
        >>> len(table.tuples), table.rows
        (1, 2)
    """

    def __init__(self) -> None:
        self.tuples: list[tuple[str, str, str]] = []
        """Distinct ``(OSV ecosystem, package, version)``; a tuple's id is its index."""
        self.sources: dict[int, tuple[str, str]] = {}
        """Tuple id → (source, source version) it is matched as, where not itself."""
        self.hosts: list[str] = []
        self.packages: list[array[int]] = []
        """Per host (same order as :attr:`hosts`), the ids of its installed tuples."""
        self._ids: dict[tuple[str, ...], int] = {}
        """Tuples matched as a source: (ecosystem, package, version, source, its version) → id."""
        self._plain: dict[str, dict[tuple[str, str], int]] = {}
        """Per ecosystem, (package, version) → id of the tuples matched as themselves."""

    @property
    def rows(self) -> int:
        """Installed (host, package) rows in all."""
        return sum(len(ids) for ids in self.packages)

    def intern(
        self, ecosystem: str, package: str, version: str, source: tuple[str, str] | None = None
    ) -> int:
        """The id of a tuple, adding it if new; ``source``: what it is matched as, if not itself."""
        if source is None:
            plain = self._plain.setdefault(ecosystem, {})
            found = plain.get((package, version))
            if found is None:
                found = plain[(package, version)] = len(self.tuples)
                self.tuples.append((ecosystem, package, version))
            return found
        key = (ecosystem, package, version, *source)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = len(self.tuples)
            self.tuples.append((ecosystem, package, version))
            self.sources[found] = source
        return found

    def add_host(
        self,
        host: str,
        ecosystem: str,
        packages: Mapping[str, str],
        sources: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """Add a host and its ``package -> version`` map.

        ``sources`` (binary → source name and version) is used where the ecosystem's
        advisories name source packages (:mod:`patchwarden.assess.sources`).
        """
        intern = self.intern
        if sources and source_keyed(split_ecosystem(ecosystem)[0]):
            ids = array("i", [intern(ecosystem, p, v, sources.get(p)) for p, v in packages.items()])
        else:
            # The common case, one dict look-up a package: (name, version) pairs are the keys.
            get = self._plain.setdefault(ecosystem, {}).get
            found = list(map(get, packages.items()))
            if None in found:
                found = [intern(ecosystem, *item) if i is None else i
                         for i, item in zip(found, packages.items(), strict=True)]  # fmt: skip
            ids = array("i", cast(list[int], found))  # every None was interned just above
        self.add_host_ids(host, ids)

    def matched_as(self, tuple_id: int) -> tuple[str, str, str]:
        """What a tuple is matched as: its source's ``(ecosystem, name, version)`` or itself."""
        ecosystem, package, version = self.tuples[tuple_id]
        source = self.sources.get(tuple_id)
        return (ecosystem, *source) if source is not None else (ecosystem, package, version)

    def add_host_ids(self, host: str, ids: array[int]) -> None:
        """Add a host by the ids of already interned tuples (for bulk loaders)."""
        self.hosts.append(host)
        self.packages.append(ids)


@dataclass(frozen=True)
class TableMatch:
    """The result of :func:`match_table`: per host, the ids of its exposed tuples."""

    table: InstalledTable
    exposures: list[Exposure]
    exposed: list[list[int]]

    @property
    def count(self) -> int:
        """Findings in all: one per (host, exposed tuple, advisory)."""
        return sum(len(self.exposures[t].hits) for ids in self.exposed for t in ids)

    def rows(self) -> Iterator[tuple[str, int, Hit]]:
        """``(host, tuple id, hit)`` for every finding, by host then package."""
        tuples = self.table.tuples
        for host, ids in zip(self.table.hosts, self.exposed, strict=True):
            for tuple_id in sorted(ids, key=lambda t: tuples[t][1]):
                for hit in self.exposures[tuple_id].hits:
                    yield host, tuple_id, hit


def match_table(table: InstalledTable, index: AdvisoryIndex) -> TableMatch:
    """Match every host of the table; cost follows distinct tuples, not hosts."""
    if table.sources:
        exposures = index.exposures([table.matched_as(t) for t in range(len(table.tuples))])
    else:
        exposures = index.exposures(table.tuples)
    for tuple_id, exposure in enumerate(exposures):
        if not exposure.hits:
            continue
        ecosystem, package, version = table.tuples[tuple_id]
        if source_keyed(split_ecosystem(ecosystem)[0]):
            source = table.sources.get(tuple_id, (package, version))
            exposures[tuple_id] = index.for_binary(ecosystem, package, version, source, exposure)
    vulnerable = {tuple_id for tuple_id, e in enumerate(exposures) if e.hits}
    exposed = [sorted(vulnerable.intersection(ids)) for ids in table.packages]
    return TableMatch(table, exposures, exposed)


def match_findings(inventory: Inventory, index: AdvisoryIndex) -> list[Finding]:
    """Every finding in the inventory, ordered by asset, package, then advisory.

    The fields of a finding that follow from its tuple and advisory are worked out once
    per (tuple, advisory) and shared by every host with that tuple; the finding is built
    from them without validating again (they are typed values already).
    """
    table = InstalledTable()
    for asset in inventory.assets:
        ecosystem = asset_ecosystem(asset)
        if ecosystem and asset.packages:
            table.add_host(asset.id, ecosystem, asset.packages, asset.package_sources)
    result = match_table(table, index)
    findings: list[Finding] = []
    by_id = inventory.by_id
    shared: dict[tuple[int, str], dict[str, Any]] = {}
    trusted = Finding.trusted
    for host, tuple_id, hit in result.rows():
        advisory = hit.advisory
        fields = shared.get((tuple_id, advisory.id))
        if fields is None:
            fields = shared[(tuple_id, advisory.id)] = _finding_fields(
                table.tuples[tuple_id], hit, result.exposures[tuple_id].recommended
            )
        source, source_version = by_id[host].package_sources.get(fields["package"], ("", ""))
        findings.append(
            trusted(
                **{**fields, "asset_id": host, "source": source, "source_version": source_version}
            )
        )
    return findings


def _finding_fields(installed: tuple[str, str, str], hit: Hit, recommended: str) -> dict[str, Any]:
    """Every field of :class:`Finding`, in its order; the asset and source are filled per host."""
    ecosystem, package, version = installed
    advisory = hit.advisory
    return {
        "asset_id": "",
        "advisory_id": advisory.id,
        "package": package,
        "ecosystem": ecosystem,
        "installed": version,
        "source": "",
        "source_version": "",
        "fixed": hit.fixed,
        "severity": advisory.severity,
        "cvss_score": advisory.cvss_score,
        "kev": advisory.kev,
        "epss": advisory.epss,
        "aliases": advisory.cves,
        "kev_due": advisory.kev_due,
        "recommended": recommended,
        "no_fix": not hit.fixed,
    }
