"""``plan_campaign``: a pure, deterministic function from the assessment to a :class:`Plan`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from datetime import datetime

from patchwarden.domain.advisories import Advisory, Decision, firmware_target
from patchwarden.domain.assets import (
    Application,
    AssetBase,
    Owner,
    StorageSystem,
    VirtualAppliance,
)
from patchwarden.domain.campaign import Campaign, Selector
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, PlanNote, PromotionGates, Wave
from patchwarden.domain.reboot import is_reboot_package
from patchwarden.domain.responsibility import owner_of
from patchwarden.planning.context import GroupContext, Strategy, memberships
from patchwarden.planning.hooks import with_hooks
from patchwarden.planning.order import check_prerequisites, install_order, respect_patch_after
from patchwarden.planning.snapshots import with_snapshots
from patchwarden.planning.steps import PatchSet, with_restarts
from patchwarden.planning.strategies import (
    all_at_once,
    blue_green,
    canary,
    cluster_rolling,
    controller,
    evacuate,
    ha_pair,
    image_rebuild,
    redundant_path,
    rolling,
)
from patchwarden.versions import compare, ecosystem_for
from patchwarden.versions.firmware import firmware_key

__all__ = [
    "STRATEGIES",
    "application_pins",
    "firmware_fixes",
    "firmware_targets",
    "is_reboot_package",
    "patch_sets",
    "plan_campaign",
    "selects",
]

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        all_at_once.STRATEGY,
        rolling.STRATEGY,
        canary.STRATEGY,
        blue_green.STRATEGY,
        cluster_rolling.STRATEGY,
        controller.STRATEGY,
        evacuate.STRATEGY,
        image_rebuild.STRATEGY,
        redundant_path.STRATEGY,
        ha_pair.STRATEGY,
    )
}
"""Every strategy a campaign can name, by name."""


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
    packages go last, so a host reboots once, after its other patches. A host whose scan
    found it already pending a reboot reboots after this patch too, so the update that
    asked for it takes effect with this one.
    """
    wanted: dict[str, dict[str, str]] = {}
    reboot: dict[str, bool] = {}
    for decision in decisions:
        if decision.action.value not in actions:
            continue
        if firmware_target(decision.asset_id, decision.package) is not None:
            continue  # flashed by the firmware steps, see firmware_fixes
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
    for asset_id in wanted:
        if inventory.get(asset_id).pending_reboot:
            reboot[asset_id] = True
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


def firmware_fixes(
    decisions: Sequence[Decision],
    fixes: Mapping[tuple[str, str, str], str],
    actions: Sequence[str],
) -> dict[str, str]:
    """Appliance and storage-part ids -> the vendor's fixed firmware their findings name.

    A firmware finding (from a vendor advisory) whose decision the campaign acts on brings
    its fix as the target; where several do, the highest wins (a vendor's later fix
    includes its earlier ones), by the order of runs of digits and letters.

    Example:
        >>> from patchwarden.domain.advisories import Action
        >>> d = Decision(asset_id="fw-1", advisory_id="A", package="firmware",
        ...              action=Action.NEXT_WINDOW, reason="r")
        >>> firmware_fixes([d], {("fw-1", "A", "firmware"): "5.2"}, ["next_window"])
        {'fw-1': '5.2'}
    """
    out: dict[str, str] = {}
    for decision in decisions:
        target = firmware_target(decision.asset_id, decision.package)
        fixed = fixes.get((decision.asset_id, decision.advisory_id, decision.package), "")
        if target is None or not fixed or decision.action.value not in actions:
            continue
        old = out.get(target)
        if old is None or firmware_key(fixed) > firmware_key(old):
            out[target] = fixed
    return out


def application_pins(inventory: Inventory, campaign: Campaign) -> dict[str, PatchSet]:
    """Per host: the application versions the campaign installs there, as ``app:<id>`` pins.

    A target goes to every host of its application's ``runs_on``; an application that
    already runs the target version (as the inventory says) needs nothing. The engine reads
    what a host really runs before installing, so a stale inventory changes nothing done.

    Example:
        >>> from patchwarden.domain.assets import Application, Vm
        >>> inv = Inventory(assets=(
        ...     Vm(id="h1", kind="vm", env="dev"),
        ...     Application(id="shop", kind="application", env="dev", version="1.0",
        ...                 runs_on=("h1",))))
        >>> c = Campaign(name="c", groups={}, applications=[{"app": "shop", "version": "1.1"}])
        >>> application_pins(inv, c)
        {'h1': (('app:shop', '1.1'),)}
    """
    out: dict[str, list[tuple[str, str]]] = {}
    for target in campaign.applications:
        app = inventory.get(target.app)
        if not isinstance(app, Application) or app.version == target.version:
            continue
        for host in app.runs_on:
            out.setdefault(host, []).append((target.pin, target.version))
    return {host: tuple(pins) for host, pins in out.items()}


def _with_applications(
    patches: Mapping[str, PatchSet], apps: Mapping[str, PatchSet]
) -> dict[str, PatchSet]:
    """Each host's packages, then its applications (a new build runs on patched packages)."""
    return {host: (*patches.get(host, ()), *apps.get(host, ())) for host in {*patches, *apps}}


def _has_work(
    asset: AssetBase, patches: Mapping[str, PatchSet], firmware: Mapping[str, str]
) -> bool:
    """Whether the asset (or one of its storage parts) has patches or firmware to install."""
    if asset.id in patches or asset.id in firmware:
        return True
    return isinstance(asset, StorageSystem) and any(p.id in firmware for p in asset.parts)


def plan_campaign(
    inventory: Inventory,
    campaign: Campaign,
    decisions: Sequence[Decision],
    advisories: Mapping[str, Advisory],
    fixes: Mapping[tuple[str, str, str], str],
    now: datetime,
) -> Plan:
    """Compile a campaign into waves: environments in promotion order, groups within each.

    The first group whose selector takes an asset owns it (its strategy says what else it
    takes). Provider-owned assets get no steps and are listed as the provider's
    responsibility.
    """
    check_prerequisites(campaign.requires)
    patches, reboot = patch_sets(
        inventory, decisions, advisories, fixes, campaign.actions, campaign.requires
    )
    if campaign.applications:
        patches = _with_applications(patches, application_pins(inventory, campaign))
        reboot = {host: reboot.get(host, False) for host in patches}
    # Targets the campaign types in win over those its findings bring.
    firmware = {
        **firmware_fixes(decisions, fixes, campaign.actions),
        **firmware_targets(inventory, campaign),
    }
    envs = tuple(
        e for e in inventory.environments if not campaign.scope_env or e in campaign.scope_env
    )
    group_of = _assign_groups(inventory, campaign)
    work = {a.id for a in inventory.assets if _has_work(a, patches, firmware)}
    waves: list[Wave] = []
    lb_of = memberships(inventory)
    for env in envs:
        for group, spec in campaign.groups.items():
            strategy = STRATEGIES[spec.strategy]
            members = tuple(
                a
                for a in inventory.assets
                if group_of.get(a.id) == group and a.env == env and strategy.keep(a, a.id in work)
            )
            if not members:
                continue
            wave_id = f"{env}.{group}"
            ctx = GroupContext(
                wave_id, env, group, spec, inventory, members, patches, reboot, lb_of, firmware
            )
            batches = strategy.plan(ctx)
            if (spec.restart_services or campaign.restart_services) == "restart":
                batches = with_restarts(batches)
            if spec.rollback == "snapshot":
                vms = {a.id for a in members}
                batches = with_snapshots(batches, vms, campaign.name, spec.snapshot_soak_s)
            if batches and spec.hooks:
                hosts = {a.id for a in members}
                batches = with_hooks(wave_id, group, env, batches, spec.hooks, hosts)
            if batches:
                waves.append(
                    Wave(id=wave_id, env=env, group=group, strategy=spec.strategy, batches=batches)
                )
    return Plan(
        campaign=campaign.name,
        created_at=now,
        environments=envs,
        waves=respect_patch_after(waves, inventory),
        notes=_notes(inventory, work, group_of, envs),
        max_concurrency=campaign.rate.max_concurrency,
        max_errors=_error_budget(campaign.rate.max_errors, waves),
        rollback=campaign.rollback,
        promotion=PromotionGates.of(campaign.promotion),
    )


def _assign_groups(inventory: Inventory, campaign: Campaign) -> dict[str, str]:
    """Which group owns each asset: the first whose selector takes it, or what it claims.

    Groups are tried in the campaign's order; provider-owned assets go to no group.
    """
    group_of: dict[str, str] = {}
    for group, spec in campaign.groups.items():
        claim = STRATEGIES[spec.strategy].claim
        for asset in inventory.assets:
            if asset.id in group_of or not selects(spec.select, asset):
                continue
            if owner_of(asset) is Owner.PROVIDER:
                continue
            for claimed in claim(asset, inventory, group_of):
                group_of[claimed] = group
    return group_of


def _notes(
    inventory: Inventory, work: Set[str], group_of: Mapping[str, str], envs: Sequence[str]
) -> tuple[PlanNote, ...]:
    """Why an asset with work has no steps: the provider's, no group's, or out of scope."""
    notes: list[PlanNote] = []
    for asset in inventory.assets:
        if asset.id not in work:
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
    return tuple(sorted(notes, key=lambda n: (n.kind, n.asset_id)))
