"""What every strategy needs to know about a group in one environment."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from patchwarden.domain.assets import AssetBase, LoadBalancer, Pool
from patchwarden.domain.campaign import GroupSpec
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Unit
from patchwarden.errors import InputError
from patchwarden.planning.steps import Chain, PatchSet, host_unit

__all__ = [
    "GroupContext",
    "Membership",
    "NoSpareCapacity",
    "Strategy",
    "batch_size",
    "claim_itself",
    "keep_with_work",
    "memberships",
]


class NoSpareCapacity(InputError):
    """A pool or cluster cannot lose even one member without going below its minimum."""


@dataclass(frozen=True)
class Membership:
    """A host's place behind a load balancer."""

    lb: LoadBalancer
    pool: Pool


def memberships(inventory: Inventory) -> dict[str, Membership]:
    """Which load-balancer pool each backend sits in (the first one, if several)."""
    out: dict[str, Membership] = {}
    for asset in inventory.assets:
        if isinstance(asset, LoadBalancer):
            for pool in asset.pools:
                for member in pool.all_members():
                    out.setdefault(member, Membership(asset, pool))
    return out


def batch_size(spec: int | str, total: int) -> int:
    """``max_unavailable`` as a count: ``"20%"`` of 10 is 2; never below 1."""
    if isinstance(spec, str):
        return max(1, math.floor(total * int(spec.rstrip("%")) / 100))
    return max(1, spec)


@dataclass(frozen=True)
class GroupContext:
    """A group's assets in one environment, with their patch sets."""

    wave_id: str
    env: str
    group: str
    spec: GroupSpec
    inventory: Inventory
    assets: tuple[AssetBase, ...]
    patches: Mapping[str, PatchSet]
    reboot: Mapping[str, bool]
    lb_of: Mapping[str, Membership]
    firmware: Mapping[str, str] = field(default_factory=dict)
    """Target firmware by appliance id or storage part id."""

    def unit_for(self, host: str, before: Chain = (), after: Chain = ()) -> Unit:
        """The patch unit of one host: its packages, a reboot if needed, health.

        ``before`` and ``after`` are extra steps around the patch (see :func:`host_unit`).
        """
        patches, reboot = self.patches.get(host, ()), self.reboot.get(host, False)
        return host_unit(self.wave_id, host, patches, reboot, before=before, after=after)


def claim_itself(
    asset: AssetBase, inventory: Inventory, taken: Mapping[str, str]
) -> tuple[str, ...]:
    """The ids a group takes when its selector takes ``asset``: the asset alone.

    >>> from patchwarden.domain.assets import Vm
    >>> claim_itself(Vm(id="web-1", kind="vm", env="dev"), Inventory(assets=()), {})
    ('web-1',)
    """
    return (asset.id,)


def keep_with_work(asset: AssetBase, has_work: bool) -> bool:
    """Whether a group's asset goes into its context: only when it has something to install."""
    return has_work


@dataclass(frozen=True)
class Strategy:
    """A rollout strategy as the planner sees it; each module under ``strategies/`` has one.

    - ``plan`` turns a group's assets in one environment into batches; the module's
      docstring states the guarantee it keeps, and an impossible plan raises an
      :class:`~patchwarden.errors.InputError` that suggests the fix;
    - ``claim`` says which ids a group takes when its selector takes an asset (by default
      the asset alone; a cluster also takes its members, an image its instances), so
      that the first group to claim an asset owns it;
    - ``keep`` says which of the group's assets the strategy is handed (by default those
      with patches or firmware to install; a cluster strategy also needs its clusters).
    """

    name: str
    plan: Callable[[GroupContext], tuple[Batch, ...]]
    claim: Callable[[AssetBase, Inventory, Mapping[str, str]], tuple[str, ...]] = claim_itself
    keep: Callable[[AssetBase, bool], bool] = keep_with_work
