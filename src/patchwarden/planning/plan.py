"""``plan_campaign``: a pure, deterministic function from the assessment to a :class:`Plan`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from patchwarden.assess.match import asset_ecosystem
from patchwarden.assess.responsibility import owner_of
from patchwarden.domain.advisories import Advisory, Decision
from patchwarden.domain.assets import AssetBase, Owner
from patchwarden.domain.campaign import Campaign, Selector
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Batch, Plan, PlanNote, Wave
from patchwarden.planning.context import GroupContext, memberships
from patchwarden.planning.steps import PatchSet
from patchwarden.planning.strategies.all_at_once import plan_all_at_once
from patchwarden.planning.strategies.evacuate import plan_evacuate
from patchwarden.planning.strategies.rolling import plan_rolling
from patchwarden.versions import compare, ecosystem_for

__all__ = ["STRATEGIES", "is_reboot_package", "patch_sets", "plan_campaign", "selects"]

STRATEGIES: dict[str, Callable[[GroupContext], tuple[Batch, ...]]] = {
    "all_at_once": plan_all_at_once,
    "rolling": plan_rolling,
    "evacuate": plan_evacuate,
}

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
        asset_id: tuple(sorted(pkgs.items(), key=lambda p: (is_reboot_package(p[0]), p[0])))
        for asset_id, pkgs in wanted.items()
    }
    return ordered, reboot


def plan_campaign(
    inventory: Inventory,
    campaign: Campaign,
    decisions: Sequence[Decision],
    advisories: Mapping[str, Advisory],
    fixes: Mapping[tuple[str, str, str], str],
    now: datetime,
) -> Plan:
    """Compile a campaign into waves: environments in promotion order, groups within each."""
    patches, reboot = patch_sets(inventory, decisions, advisories, fixes, campaign.actions)
    lb_of = memberships(inventory)
    envs = tuple(
        e for e in inventory.environments if not campaign.scope_env or e in campaign.scope_env
    )
    notes: list[PlanNote] = []
    group_of: dict[str, str] = {}
    for asset in inventory.assets:
        if asset.id not in patches:
            continue
        if owner_of(asset) is Owner.PROVIDER:
            notes.append(
                PlanNote(asset_id=asset.id, kind="provider", reason="the provider patches it")
            )
            continue
        group = next(
            (g for g, spec in campaign.groups.items() if selects(spec.select, asset)), None
        )
        if group is None:
            notes.append(
                PlanNote(asset_id=asset.id, kind="unselected", reason="no group selects it")
            )
        elif asset.env not in envs:
            notes.append(PlanNote(asset_id=asset.id, kind="skipped", reason="outside the scope"))
        else:
            group_of[asset.id] = group
    waves: list[Wave] = []
    for env in envs:
        for group, spec in campaign.groups.items():
            members = tuple(
                a for a in inventory.assets if group_of.get(a.id) == group and a.env == env
            )
            if not members:
                continue
            wave_id = f"{env}.{group}"
            ctx = GroupContext(
                wave_id, env, group, spec, inventory, members, patches, reboot, lb_of
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
        waves=tuple(waves),
        notes=tuple(sorted(notes, key=lambda n: (n.kind, n.asset_id))),
        max_concurrency=campaign.rate.max_concurrency,
        max_errors=campaign.rate.max_errors,
        rollback=campaign.rollback,
    )
