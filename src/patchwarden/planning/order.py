"""Order of operations: patch prerequisites within a host, ``patch_after`` across hosts.

Some patches must be installed in sequence (release notes say so): a campaign's
``requires`` maps a package to the packages that must be installed before it. Within one
host's patch step packages are installed in a topological order of that graph, with every
reboot-requiring package (kernel, libc, firmware) after all the others, so the host reboots
once, at the end. Supersedence is already resolved by then: one target per package, the
highest fixed version. A cycle is refused with an error that names it.

Across hosts, an inventory's ``patch_after`` says an asset is patched only after others:
its unit moves to a batch after theirs in the same wave, and a plan that would patch it in
an earlier wave is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from graphlib import CycleError, TopologicalSorter

from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Wave
from patchwarden.errors import InputError

__all__ = ["PatchOrderError", "check_prerequisites", "install_order", "respect_patch_after"]


class PatchOrderError(InputError):
    """Patch prerequisites or ``patch_after`` rules cannot be satisfied."""


def check_prerequisites(requires: Mapping[str, Iterable[str]]) -> None:
    """Refuse a prerequisite graph with a cycle, naming the cycle.

    Example:
        >>> try:
        ...     check_prerequisites({"a": ["b"], "b": ["a"]})
        ... except PatchOrderError as refused:
        ...     print(str(refused).split(" (")[0])
        patch prerequisites form a cycle: a -> b -> a
    """
    try:
        TopologicalSorter({k: set(v) for k, v in requires.items()}).prepare()
    except CycleError as error:
        cycle = list(reversed(error.args[1]))
        raise PatchOrderError(
            f"patch prerequisites form a cycle: {' -> '.join(cycle)} "
            "(fix `requires` in the campaign: one of these must not need the other)"
        ) from None


def install_order(
    packages: Mapping[str, str],
    requires: Mapping[str, Iterable[str]],
    needs_reboot: Callable[[str], bool],
) -> tuple[tuple[str, str], ...]:
    """Packages in an order that honours prerequisites, reboot-requiring ones last.

    Ties are broken by name, so the order (and the plan's hash) is stable.

    Example:
        >>> install_order({"app": "2", "lib": "3", "linux-image": "6"}, {"app": ["lib"]},
        ...               lambda n: n.startswith("linux"))
        (('lib', '3'), ('app', '2'), ('linux-image', '6'))
    """
    names = set(packages)
    graph: dict[str, set[str]] = {n: {d for d in requires.get(n, ()) if d in names} for n in names}
    plain = [n for n in names if not needs_reboot(n)]
    for name in names:
        if needs_reboot(name):
            graph[name] |= set(plain)  # after everything that needs no reboot
    sorter = TopologicalSorter(graph)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = list(reversed(error.args[1]))
        raise PatchOrderError(f"patch prerequisites form a cycle: {' -> '.join(cycle)}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return tuple((name, packages[name]) for name in order)


def respect_patch_after(waves: Sequence[Wave], inventory: Inventory) -> tuple[Wave, ...]:
    """Move units after the units of the assets they must follow; refuse what cannot be."""
    where: dict[str, tuple[int, int]] = {}
    for w, wave in enumerate(waves):
        for b, batch in enumerate(wave.batches):
            for unit in batch.units:
                where[unit.target] = (w, b)
    out = list(waves)
    for asset in inventory.assets:
        if asset.id not in where:
            continue
        for before in asset.patch_after:
            if before not in where:
                continue
            (w, b), (wb, bb) = where[asset.id], where[before]
            if wb > w:
                raise PatchOrderError(
                    f"{asset.id} must be patched after {before}, but its wave {waves[w].id} "
                    f"comes before {waves[wb].id}; put {asset.id}'s group after {before}'s"
                )
            if wb == w and bb >= b:
                out[w] = _move_after(out[w], asset.id, before)
                for bi, batch in enumerate(out[w].batches):
                    for unit in batch.units:
                        where[unit.target] = (w, bi)
    return tuple(out)


def _move_after(wave: Wave, target: str, before: str) -> Wave:
    """Take ``target``'s unit out of its batch; put it in its own batch after ``before``'s."""
    unit = next(u for b in wave.batches for u in b.units if u.target == target)
    batches = [
        b.model_copy(update={"units": tuple(u for u in b.units if u.target != target)})
        for b in wave.batches
    ]
    anchor = next(i for i, b in enumerate(batches) if any(u.target == before for u in b.units))
    moved = Batch(id=f"{wave.id}#after-{before}-{target}", units=(unit,))
    batches.insert(anchor + 1, moved)
    return wave.model_copy(update={"batches": tuple(b for b in batches if b.units)})
