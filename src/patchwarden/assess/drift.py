"""Same patch level: which assets of a group deviate from the group's versions, and by what.

Assets that do the same job should run the same versions; a stray version makes failures
hard to reproduce. Groups are roles, clusters, load-balancer pools and environments. Within a
group, assets are compared with others of the same package ecosystem, and a package's
*reference* version is the one most members run (the newest on a tie). In role, cluster and
pool groups a package most members have and one lacks is a deviation too; environments mix
roles, so there only versions are compared.

The version-tracking sheet lists every asset × package × version with the baseline's
target: the newest approved fix for that package, when the installed version is below it.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from patchwarden.assess.baseline import BaselineSnapshot
from patchwarden.domain.assets import AssetBase, Cluster, LoadBalancer
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.errors import PatchwardenError
from patchwarden.versions import compare

__all__ = [
    "Deviation",
    "DriftGroup",
    "VersionRow",
    "drift",
    "groups_of",
    "version_rows",
]


@dataclass(frozen=True, kw_only=True)
class Deviation:
    """One asset's package differing from its group's reference version."""

    asset_id: str
    package: str
    version: str
    """The asset's version; ``""`` when it lacks the package."""
    reference: str
    how: str
    """``behind``, ``ahead``, ``different`` (cannot be ordered) or ``absent``."""


@dataclass(frozen=True, kw_only=True)
class DriftGroup:
    """A group of assets and how they deviate from its reference versions."""

    kind: str
    name: str
    members: tuple[str, ...]
    deviations: tuple[Deviation, ...]

    @property
    def aligned(self) -> bool:
        """Whether every member runs the reference versions."""
        return not self.deviations


def groups_of(inventory: Inventory) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, name, member ids) of every role, cluster, pool and environment with 2+ assets."""
    groups: list[tuple[str, str, tuple[str, ...]]] = []
    roles: dict[str, list[str]] = defaultdict(list)
    envs: dict[str, list[str]] = defaultdict(list)
    for asset in inventory.assets:
        for role in asset.roles:
            roles[role].append(asset.id)
        envs[asset.env].append(asset.id)
        if isinstance(asset, Cluster):
            groups.append(("cluster", asset.id, asset.members))
        elif isinstance(asset, LoadBalancer):
            for pool in asset.pools:
                groups.append(("pool", f"{asset.id}/{pool.name}", pool.all_members()))
    groups.extend(("role", role, tuple(ids)) for role, ids in sorted(roles.items()))
    groups.extend(("env", env, tuple(envs[env])) for env in inventory.environments if env in envs)
    return [g for g in groups if len(g[2]) >= 2]


def _order(ecosystem: str, a: str, b: str) -> int:
    try:
        return compare(ecosystem, a, b)
    except PatchwardenError:
        return (a > b) - (a < b)


def _reference(ecosystem: str, versions: Iterable[str]) -> str:
    counts = Counter(versions)
    top = max(counts.values())
    tied = [v for v, n in counts.items() if n == top]

    def order(a: str, b: str) -> int:
        return _order(ecosystem, a, b)

    return max(tied, key=functools.cmp_to_key(order))


def _deviations(members: list[AssetBase], ecosystem: str, absent_counts: bool) -> list[Deviation]:
    found: list[Deviation] = []
    packages = sorted({p for a in members for p in a.packages})
    for package in packages:
        have = [a for a in members if package in a.packages]
        if len(have) < 2 and not absent_counts:
            continue
        reference = _reference(ecosystem, (a.packages[package] for a in have))
        for asset in members:
            version = asset.packages.get(package)
            if version is None:
                if absent_counts and len(have) * 2 > len(members):
                    found.append(
                        Deviation(
                            asset_id=asset.id,
                            package=package,
                            version="",
                            reference=reference,
                            how="absent",
                        )
                    )
                continue
            if version == reference:
                continue
            try:
                how = "behind" if compare(ecosystem, version, reference) < 0 else "ahead"
            except PatchwardenError:
                how = "different"
            found.append(
                Deviation(
                    asset_id=asset.id,
                    package=package,
                    version=version,
                    reference=reference,
                    how=how,
                )
            )
    return found


def drift(inventory: Inventory) -> list[DriftGroup]:
    """Every group of the inventory with its deviations from the group's reference versions.

    Example:
        >>> from patchwarden.domain.assets import Vm
        >>> deb = {"family": "debian", "release": "12"}
        >>> versions = ["1.2-1", "1.2-1", "1.0-1"]
        >>> vms = tuple(Vm(id=f"w{i}", kind="vm", env="prod", roles=("web",), os=deb,
        ...                packages={"nginx": v}) for i, v in enumerate(versions))
        >>> [(d.asset_id, d.how) for d in drift(Inventory(assets=vms))[0].deviations]
        [('w2', 'behind')]
    """
    by_id = inventory.by_id
    result: list[DriftGroup] = []
    for kind, name, member_ids in groups_of(inventory):
        members = [by_id[m] for m in member_ids if m in by_id]
        by_eco: dict[str, list[AssetBase]] = defaultdict(list)
        for asset in members:
            ecosystem = asset_ecosystem(asset)
            if ecosystem and asset.packages:
                by_eco[ecosystem].append(asset)
        deviations: list[Deviation] = []
        for ecosystem, assets in sorted(by_eco.items()):
            if len(assets) >= 2:
                deviations.extend(_deviations(assets, ecosystem, kind != "env"))
        deviations.sort(key=lambda d: (d.asset_id, d.package))
        result.append(
            DriftGroup(kind=kind, name=name, members=member_ids, deviations=tuple(deviations))
        )
    return result


@dataclass(frozen=True, kw_only=True)
class VersionRow:
    """One line of the version-tracking sheet."""

    asset_id: str
    env: str
    roles: str
    ecosystem: str
    package: str
    version: str
    target: str
    """The baseline's target version; ``""`` when no approved patch touches the package."""
    status: str
    """``at target``, ``below target``, ``no target`` or ``no baseline``."""
    snapshot_id: str


def version_rows(
    inventory: Inventory, snapshots: Mapping[str, BaselineSnapshot]
) -> list[VersionRow]:
    """Asset × package × version, with the target of the asset's baseline snapshot.

    Args:
        inventory: The estate.
        snapshots: Snapshots by lower-case OSV ecosystem base (``debian``, ``pypi``).
    """
    rows: list[VersionRow] = []
    for asset in inventory.assets:
        ecosystem = asset_ecosystem(asset)
        snapshot = snapshots.get(ecosystem.split(":", 1)[0].lower()) if ecosystem else None
        targets: dict[str, str] = {}
        if snapshot is not None:
            release = ecosystem.split(":")[1] if ":" in ecosystem else ""
            for patch in snapshot.approved:
                parts = patch.ecosystem.split(":")
                if release and len(parts) > 1 and parts[1] != release:
                    continue
                best = targets.get(patch.package)
                if best is None or _order(ecosystem, patch.fixed, best) > 0:
                    targets[patch.package] = patch.fixed
        for package, version in sorted(asset.packages.items()):
            target = targets.get(package, "")
            if snapshot is None:
                status = "no baseline"
            elif not target:
                status = "no target"
            elif _order(ecosystem, version, target) >= 0:
                status = "at target"
            else:
                status = "below target"
            rows.append(
                VersionRow(
                    asset_id=asset.id,
                    env=asset.env,
                    roles=" ".join(asset.roles),
                    ecosystem=ecosystem,
                    package=package,
                    version=version,
                    target=target,
                    status=status,
                    snapshot_id=snapshot.id if snapshot else "",
                )
            )
    return rows
