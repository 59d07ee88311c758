"""Checks across assets: references resolve to the right kind, peers agree, no cycles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from patchwarden.domain.assets import (
    AssetBase,
    Cluster,
    Kind,
    LoadBalancer,
    StorageSystem,
    VirtualAppliance,
)
from patchwarden.errors import Problem
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path

__all__ = ["REFERENCE_KINDS", "check_references"]

# Which kinds each reference field may point at: data, not code paths.
REFERENCE_KINDS: dict[str, frozenset[Kind]] = {
    "hypervisor": frozenset({Kind.HYPERVISOR}),
    "image": frozenset({Kind.IMAGE}),
    "ha_peer": frozenset({Kind.VIRTUAL_APPLIANCE}),
    "runs_on": frozenset({Kind.VM, Kind.CLUSTER, Kind.HYPERVISOR}),
    "members": frozenset({Kind.VM, Kind.HYPERVISOR}),
    "controller": frozenset({Kind.VM, Kind.HYPERVISOR}),
    "pools": frozenset({Kind.VM, Kind.VIRTUAL_APPLIANCE, Kind.HYPERVISOR}),
    "hosts": frozenset({Kind.VM, Kind.HYPERVISOR}),
    "patch_after": frozenset(Kind),
}

Origin = Mapping[str, tuple[LocatedDocument, Path]]


def check_references(assets: Sequence[AssetBase], origin: Origin) -> list[Problem]:
    """Every cross-asset problem of a set of individually valid assets."""
    by_id = {a.id: a for a in assets}
    problems: list[Problem] = []

    def at(asset: AssetBase, field: str, message: str, hint: str) -> Problem:
        doc, path = origin[asset.id]
        return Problem(
            doc.file, doc.line_of((*path, field)), f"{dotted_path(path)}.{field}", message, hint
        )

    part_ids = {p.id: a for a in assets if isinstance(a, StorageSystem) for p in a.parts}
    for part_id, system in part_ids.items():
        if part_id in by_id:
            problems.append(
                at(system, "parts", f"part id {part_id!r} is also an asset id", "rename the part")
            )

    for asset in assets:
        for field, targets in asset.references().items():
            allowed = REFERENCE_KINDS[field]
            for target in targets:
                other = by_id.get(target)
                if other is None:
                    close = [i for i in by_id if i.startswith(target[:3])][:3]
                    hint = (
                        f"define it, or fix the id (similar: {', '.join(close)})"
                        if close
                        else ("define that asset, or fix the id")
                    )
                    problems.append(at(asset, field, f"refers to unknown asset {target!r}", hint))
                elif Kind(str(getattr(other, "kind", ""))) not in allowed:
                    kinds = " or ".join(sorted(k.value for k in allowed))
                    other_kind = str(getattr(other, "kind", "?"))
                    article = "an" if other_kind[0] in "aeiou" else "a"
                    problems.append(
                        at(
                            asset,
                            field,
                            f"{target!r} is {article} {other_kind}, expected {kinds}",
                            "point it at an asset of the right kind",
                        )
                    )
        problems.extend(_kind_rules(asset, by_id, at))
    problems.extend(_cycles(assets, by_id, origin))
    return problems


def _kind_rules(asset: AssetBase, by_id: Mapping[str, AssetBase], at: object) -> list[Problem]:
    assert callable(at)
    out: list[Problem] = []
    if isinstance(asset, VirtualAppliance) and asset.ha_peer:
        peer = by_id.get(asset.ha_peer)
        if asset.ha_peer == asset.id:
            out.append(
                at(asset, "ha_peer", "an appliance cannot be its own HA peer", "name the other one")
            )
        elif isinstance(peer, VirtualAppliance) and peer.ha_peer not in (None, asset.id):
            out.append(
                at(
                    asset,
                    "ha_peer",
                    f"{peer.id!r} names {peer.ha_peer!r} as its peer, not {asset.id!r}",
                    "HA peers name each other",
                )
            )
    if isinstance(asset, Cluster):
        if len(set(asset.members)) != len(asset.members):
            out.append(at(asset, "members", "lists a member twice", "list each once"))
        if asset.quorum is not None and asset.quorum > len(asset.members):
            out.append(
                at(
                    asset,
                    "quorum",
                    f"quorum {asset.quorum} is more than the {len(asset.members)} members",
                    "quorum is how many members must stay up",
                )
            )
        if asset.upgrade_mode == "controller" and asset.controller is None:
            out.append(
                at(
                    asset,
                    "controller",
                    "controller-based upgrades need a controller",
                    "add `controller:`",
                )
            )
    if isinstance(asset, LoadBalancer):
        names = [p.name for p in asset.pools]
        if len(set(names)) != len(names):
            out.append(at(asset, "pools", "two pools share a name", "give each pool its own name"))
        for pool in asset.pools:
            members = pool.all_members()
            if pool.min_healthy is not None and pool.min_healthy > len(members):
                out.append(
                    at(
                        asset,
                        "pools",
                        f"pool {pool.name!r}: min_healthy {pool.min_healthy} is more than its "
                        f"{len(members)} members",
                        "lower min_healthy or add members",
                    )
                )
            bg = pool.blue_green
            if bg is not None and len(bg.blue) != len(bg.green):
                out.append(
                    at(
                        asset,
                        "pools",
                        f"pool {pool.name!r}: blue has {len(bg.blue)} members, green "
                        f"{len(bg.green)}",
                        "blue-green needs two identical sides",
                    )
                )
    return out


def _cycles(
    assets: Sequence[AssetBase], by_id: Mapping[str, AssetBase], origin: Origin
) -> list[Problem]:
    """Find cycles in ``patch_after`` (iterative DFS, so deep chains cannot overflow)."""
    graph = {a.id: [t for t in a.patch_after if t in by_id] for a in assets}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    problems: list[Problem] = []
    reported: set[frozenset[str]] = set()
    for start in graph:
        if colour[start] != white:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                colour[node] = grey
                trail.append(node)
            edges = graph[node]
            if index < len(edges):
                stack.append((node, index + 1))
                nxt = edges[index]
                if colour[nxt] == white:
                    stack.append((nxt, 0))
                elif colour[nxt] == grey:
                    cycle = [*trail[trail.index(nxt) :], nxt]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        doc, path = origin[node]
                        problems.append(
                            Problem(
                                doc.file,
                                doc.line_of((*path, "patch_after")),
                                f"{dotted_path(path)}.patch_after",
                                f"cycle: {' -> '.join(cycle)}",
                                "remove one of these patch_after entries",
                            )
                        )
            else:
                colour[node] = black
                trail.pop()
    return problems
