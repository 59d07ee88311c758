"""``plan_campaign``: a pure, deterministic function from the assessment to a :class:`Plan`."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from patchwarden.domain.advisories import Advisory, Decision
from patchwarden.domain.assets import (
    AssetBase,
    Cluster,
    Image,
    Owner,
    StorageSystem,
    VirtualAppliance,
    Vm,
)
from patchwarden.domain.campaign import Campaign, Selector
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Plan, PlanNote, Wave
from patchwarden.domain.responsibility import owner_of
from patchwarden.planning.context import GroupContext, memberships
from patchwarden.planning.order import check_prerequisites, install_order, respect_patch_after
from patchwarden.planning.steps import PatchSet
from patchwarden.planning.strategies.all_at_once import plan_all_at_once
from patchwarden.planning.strategies.blue_green import plan_blue_green
from patchwarden.planning.strategies.canary import plan_canary
from patchwarden.planning.strategies.cluster_rolling import plan_cluster_rolling
from patchwarden.planning.strategies.controller import plan_controller
from patchwarden.planning.strategies.evacuate import plan_evacuate
from patchwarden.planning.strategies.ha_pair import plan_ha_pair
from patchwarden.planning.strategies.image_rebuild import plan_image_rebuild
from patchwarden.planning.strategies.redundant_path import plan_redundant_path
from patchwarden.planning.strategies.rolling import plan_rolling
from patchwarden.versions import compare, ecosystem_for

__all__ = [
    "STRATEGIES",
    "firmware_targets",
    "is_reboot_package",
    "patch_sets",
    "plan_campaign",
    "selects",
]

STRATEGIES: dict[str, Callable[[GroupContext], tuple[Batch, ...]]] = {
    "all_at_once": plan_all_at_once,
    "rolling": plan_rolling,
    "canary": plan_canary,
    "blue_green": plan_blue_green,
    "cluster_rolling": plan_cluster_rolling,
    "controller": plan_controller,
    "evacuate": plan_evacuate,
    "image_rebuild": plan_image_rebuild,
    "redundant_path": plan_redundant_path,
    "ha_pair": plan_ha_pair,
}

# Strategies whose selected asset stands for others: a cluster for its members, an image
# for the instances built from it. The rest take the assets they select.
_CLAIMS_MEMBERS = frozenset({"cluster_rolling", "controller"})

# Packages whose update only takes effect after a reboot; installed last on a host.
_REBOOT_PREFIXES = ("linux-image", "linux-generic", "kernel", "firmware", "microcode", "libc6")
_REBOOT_NAMES = frozenset({"glibc", "systemd", "qemu-system-x86", "qemu-kvm", "intel-microcode"})


def is_reboot_package(name: str) -> bool:
    """Whether installing ``name`` needs a reboot to take effect (kernel, libc, firmware)."""
    return name in _REBOOT_NAMES or name.startswith(_REBOOT_PREFIXES)


def selects(selector: Selector, asset: AssetBase) -> bool:
    """Whether a group's selector takes an asset."""
    return (
        (selector.kind is None or getattr(asset, "kind", None) == selector.kind)
        and (selector.role is None or selector.role in asset.roles)
        and (not selector.ids or asset.id in selector.ids)
        and (not selector.env or asset.env in selector.env)
        and all(asset.tags.get(k) == v for k, v in selector.tag.items())
    )


def patch_sets(
    inventory: Inventory,
    decisions: Sequence[Decision],
    advisories: Mapping[str, Advisory],
    fixes: Mapping[tuple[str, str, str], str],
    actions: Sequence[str],
    requires: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, PatchSet], dict[str, bool]]:
    """Per asset: the packages to install (highest fixed version each) and whether to reboot.

    ``fixes`` maps (asset, advisory, package) to the fixed version. Reboot-requiring
    packages go last, so a host reboots once, after its other patches.
    """
    wanted: dict[str, dict[str, str]] = {}
    reboot: dict[str, bool] = {}
    for decision in decisions:
        if decision.action.value not in actions:
            continue
        fixed = fixes.get((decision.asset_id, decision.advisory_id, decision.package), "")
        if not fixed:
            continue
        asset = inventory.get(decision.asset_id)
        scheme = ecosystem_for(asset_ecosystem(asset).split(":")[0])
        current = wanted.setdefault(asset.id, {}).get(decision.package)
        if current is None or compare(scheme, fixed, current) > 0:
            wanted[asset.id][decision.package] = fixed
        advisory = advisories.get(decision.advisory_id)
        needs = is_reboot_package(decision.package) or bool(advisory and advisory.reboot_required)
        reboot[asset.id] = reboot.get(asset.id, False) or needs
    ordered = {
        asset_id: install_order(pkgs, requires or {}, is_reboot_package)
        for asset_id, pkgs in wanted.items()
    }
    return ordered, reboot


def _error_budget(spec: int | str, waves: Sequence[Wave]) -> int:
    """``max_errors`` as a count: ``"10%"`` of the plan's units, rounded down."""
    if isinstance(spec, int):
        return spec
    units = sum(len(b.units) for w in waves for b in w.batches)
    return units * int(spec.rstrip("%")) // 100


def firmware_targets(inventory: Inventory, campaign: Campaign) -> dict[str, str]:
    """Appliance and storage-part ids whose firmware differs from the campaign's target."""
    out: dict[str, str] = {}
    for target in campaign.firmware:
        for asset in inventory.assets:
            if not selects(target.select, asset):
                continue
            if isinstance(asset, VirtualAppliance) and target.version:
                if asset.firmware != target.version:
                    out[asset.id] = target.version
            elif isinstance(asset, StorageSystem):
                for part in asset.parts:
                    wanted = target.parts.get(part.type)
                    if wanted and wanted != part.firmware:
                        out[part.id] = wanted
    return out


def _work_ids(
    asset: AssetBase, patches: Mapping[str, PatchSet], firmware: Mapping[str, str]
) -> bool:
    if asset.id in patches or asset.id in firmware:
        return True
    return isinstance(asset, StorageSystem) and any(p.id in firmware for p in asset.parts)


def _claim(
    strategy: str, asset: AssetBase, inventory: Inventory, claimed: Mapping[str, str]
) -> list[str]:
    """The ids a group takes when it selects ``asset``: itself, plus members or instances."""
    if strategy in _CLAIMS_MEMBERS:
        if not isinstance(asset, Cluster):
            return []
        return [asset.id, *(m for m in asset.members if m not in claimed)]
    if strategy == "image_rebuild":
        if not isinstance(asset, Image):
            return []
        instances = [
            a.id
            for a in inventory.assets
            if isinstance(a, Vm)
            and a.image == asset.id
            and a.env == asset.env
            and a.id not in claimed
        ]
        return [asset.id, *instances]
    return [asset.id]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while planning.

    A large plan is hundreds of thousands of small objects, none in reference cycles; the
    collector would re-scan the growing heap again and again (two thirds of the time of a
    50,000-asset plan, measured by bench/bench_plan.py). Reference counting still frees
    everything; the collector's previous state is restored on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan_campaign(
    inventory: Inventory,
    campaign: Campaign,
    decisions: Sequence[Decision],
    advisories: Mapping[str, Advisory],
    fixes: Mapping[tuple[str, str, str], str],
    now: datetime,
) -> Plan:
    """Compile a campaign into waves: environments in promotion order, groups within each.

    The first group whose selector takes an asset owns it. Provider-owned assets get no
    steps and are listed as the provider's responsibility.
    """
    with _collector_paused():
        return _plan_campaign(inventory, campaign, decisions, advisories, fixes, now)


def _plan_campaign(
    inventory: Inventory,
    campaign: Campaign,
    decisions: Sequence[Decision],
    advisories: Mapping[str, Advisory],
    fixes: Mapping[tuple[str, str, str], str],
    now: datetime,
) -> Plan:
    check_prerequisites(campaign.requires)
    patches, reboot = patch_sets(
        inventory, decisions, advisories, fixes, campaign.actions, campaign.requires
    )
    firmware = firmware_targets(inventory, campaign)
    lb_of = memberships(inventory)
    envs = tuple(
        e for e in inventory.environments if not campaign.scope_env or e in campaign.scope_env
    )
    notes: list[PlanNote] = []
    group_of: dict[str, str] = {}
    for group, spec in campaign.groups.items():
        for asset in inventory.assets:
            if asset.id in group_of or not selects(spec.select, asset):
                continue
            if owner_of(asset) is Owner.PROVIDER:
                continue
            for claimed in _claim(spec.strategy, asset, inventory, group_of):
                group_of[claimed] = group
    for asset in inventory.assets:
        if not _work_ids(asset, patches, firmware):
            continue
        if owner_of(asset) is Owner.PROVIDER:
            notes.append(
                PlanNote(asset_id=asset.id, kind="provider", reason="the provider patches it")
            )
        elif asset.id not in group_of:
            notes.append(
                PlanNote(asset_id=asset.id, kind="unselected", reason="no group selects it")
            )
        elif asset.env not in envs:
            notes.append(PlanNote(asset_id=asset.id, kind="skipped", reason="outside the scope"))
    waves: list[Wave] = []
    for env in envs:
        for group, spec in campaign.groups.items():
            members = tuple(
                a
                for a in inventory.assets
                if group_of.get(a.id) == group
                and a.env == env
                and (
                    _work_ids(a, patches, firmware)
                    or isinstance(a, Cluster)
                    or spec.strategy == "image_rebuild"
                )
            )
            if not members:
                continue
            wave_id = f"{env}.{group}"
            ctx = GroupContext(
                wave_id, env, group, spec, inventory, members, patches, reboot, lb_of, firmware
            )
            batches = STRATEGIES[spec.strategy](ctx)
            if batches:
                waves.append(
                    Wave(id=wave_id, env=env, group=group, strategy=spec.strategy, batches=batches)
                )
    return Plan(
        campaign=campaign.name,
        created_at=now,
        environments=envs,
        waves=respect_patch_after(waves, inventory),
        notes=tuple(sorted(notes, key=lambda n: (n.kind, n.asset_id))),
        max_concurrency=campaign.rate.max_concurrency,
        max_errors=_error_budget(campaign.rate.max_errors, waves),
        rollback=campaign.rollback,
    )
