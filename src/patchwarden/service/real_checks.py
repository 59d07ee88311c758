"""Before a real run starts: does every step of the plan have a real driver to run it?

A real run never carries a placeholder driver that fails in the middle of a rollout (a
load balancer step reaching for a load balancer nobody configured, a hypervisor step with
no hypervisor driver). Each step is matched to the driver it needs; what is missing is
refused up front, naming the asset, the key to add and where the asset is defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patchwarden.domain.assets import Application, AssetBase, Driven, StorageSystem
from patchwarden.domain.campaign import APP_PIN_PREFIX
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, Step, StepAction
from patchwarden.domain.steps import HookParams, PatchParams, PoolParams
from patchwarden.drivers.packages import host_manager
from patchwarden.drivers.real import RealDrivers
from patchwarden.drivers.registry import REGISTRY, DriverRegistry
from patchwarden.engine.steps import Drivers
from patchwarden.errors import Problem

__all__ = ["PLATFORM_DRIVERS", "missing_drivers"]

_HOST = frozenset(
    {StepAction.PATCH, StepAction.RESTORE, StepAction.REBOOT, StepAction.HEALTH, StepAction.VERIFY}
)
_PACKAGES = frozenset({StepAction.PATCH, StepAction.RESTORE})
_JUDGES_TRAFFIC = frozenset({StepAction.ANALYZE, StepAction.BAKE})


def _metered(drivers: Drivers, real: RealDrivers, lb: str, pool: str) -> bool:
    """Whether the run has request samples of ``lb``'s ``pool``."""
    if lb not in (drivers.metrics or {}):
        return False
    # Metrics handed in by a harness cover what it says; the inventory's, what it names.
    return lb not in real.metrics or pool in real.metered_pools.get(lb, frozenset())


PLATFORM_DRIVERS: Mapping[StepAction, tuple[str, str]] = {
    StepAction.MAINTENANCE_ON: ("hypervisors", "hypervisor"),
    StepAction.MAINTENANCE_OFF: ("hypervisors", "hypervisor"),
    StepAction.MIGRATE: ("hypervisors", "hypervisor"),
    StepAction.HANDOVER: ("clusters", "cluster"),
    StepAction.LEAVE: ("clusters", "cluster"),
    StepAction.REJOIN: ("clusters", "cluster"),
    StepAction.UPLOAD: ("clusters", "cluster"),
    StepAction.DISTRIBUTE: ("clusters", "cluster"),
    StepAction.FIRMWARE: ("firmware", "appliance"),
    StepAction.FAILOVER: ("appliances", "appliance"),
    StepAction.PATH_OFFLINE: ("storage", "storage"),
    StepAction.PATH_ONLINE: ("storage", "storage"),
    StepAction.VERIFY_REDUNDANCY: ("storage", "storage"),
    StepAction.BUILD_IMAGE: ("images", "image"),
    StepAction.TEST_IMAGE: ("images", "image"),
    StepAction.REPLACE: ("images", "image"),
    StepAction.SNAPSHOT: ("snapshots", "hypervisor"),
    StepAction.SNAPSHOT_REVERT: ("snapshots", "hypervisor"),
    StepAction.SNAPSHOT_DELETE: ("snapshots", "hypervisor"),
}
"""Step action → (the engine's driver slot, the registry kind that would fill it)."""


def missing_drivers(
    plan: Plan,
    inventory: Inventory,
    drivers: Drivers,
    real: RealDrivers,
    sources: Mapping[str, tuple[str, int]],
    registry: DriverRegistry = REGISTRY,
) -> list[Problem]:
    """One problem per asset and missing key that some step of ``plan`` needs.

    Args:
        plan: The plan about to run (rollback steps included).
        inventory: The inventory the drivers were built from.
        drivers: The engine's drivers for the run.
        real: The real drivers under them (connections, package routing).
        sources: ``asset id → (file, line)`` of its definition.
        registry: Where driver names are looked up, for hints.
    """
    found: dict[tuple[str, str], Problem] = {}
    by_id = inventory.by_id

    def refuse(asset_id: str, key: str, message: str, hint: str) -> None:
        file, line = sources.get(asset_id, ("inventory", 0))
        found.setdefault((asset_id, key), Problem(file, line, f"{asset_id}.{key}", message, hint))

    for unit in plan.units():
        for step in (*unit.steps, *unit.rollback):
            _check_step(step, by_id, drivers, real, registry, refuse)
    return sorted(found.values())


def _check_step(
    step: Step,
    by_id: Mapping[str, AssetBase],
    drivers: Drivers,
    real: RealDrivers,
    registry: DriverRegistry,
    refuse: Any,
) -> None:
    action, target = step.action, step.target
    doing = f"step {action.value} of {target}"
    if isinstance(step.params, PoolParams):
        lb = step.params.lb
        if lb not in drivers.load_balancers:
            names = [n for n in registry.names("load_balancer") if n != "sim"]
            refuse(
                lb,
                "driver",
                f"{doing} needs a real driver for load balancer {lb!r}",
                f"add `driver: {' | '.join(names) or '...'}` and its `driver_config`",
            )
        elif action in _JUDGES_TRAFFIC and not _metered(drivers, real, lb, step.params.pool):
            pool = step.params.pool
            refuse(
                lb,
                f"driver_config.pools.{pool}.metrics",
                f"{doing} judges the requests of pool {pool!r}, and load balancer {lb!r} "
                "names no source of request samples for it",
                f"add `metrics: {{log: HOST:PORT}}` under driver_config.pools.{pool} (where "
                "haproxy.cfg's `log` line sends its request log, with `option httplog`); "
                "a canary or a bake never passes on no data",
            )
    on_host = action in _HOST or (
        isinstance(step.params, HookParams) and step.params.on == "target"
    )
    if on_host and target not in real.transport.connections:
        refuse(
            target,
            "connection",
            f"{doing} needs to reach the host",
            "add `connection: {transport: ssh, address: ..., user: ...}`",
        )
    apps = (
        []
        if not isinstance(step.params, PatchParams)
        else [
            name.removeprefix(APP_PIN_PREFIX)
            for name, _ in step.params.packages
            if name.startswith(APP_PIN_PREFIX)
        ]
    )
    for app in apps:
        asset = by_id.get(app)
        if isinstance(asset, Application) and asset.driver == "sim":
            names = [n for n in registry.names("app_installer") if n != "sim"]
            refuse(
                app,
                "driver",
                f"{doing} installs application {app!r}, which names no real installer",
                f"add `driver: {' | '.join(names) or '...'}` and its `driver_config`",
            )
    only_apps = isinstance(step.params, PatchParams) and len(apps) == len(step.params.packages)
    if action in _PACKAGES and target in by_id and not only_apps:
        manager = host_manager(by_id[target])
        if manager is None or registry.find("packages", manager) is None:
            asset_os = by_id[target].os
            family = asset_os.family if asset_os is not None else "?"
            refuse(
                target,
                "os",
                f"{doing}: no package driver for OS family {family!r} "
                f"(package manager {manager or 'unknown'})",
                f"registered package drivers: {', '.join(registry.names('packages'))}",
            )
    system = _storage_system(step, by_id)
    if system is not None and action in _STORAGE:
        _check_storage_step(step, system, drivers, real, registry, refuse)
        return
    if action in _CONTROLLER:
        # A third-party cluster driver that does not say is taken at its protocol's word.
        distributes = drivers.clusters is not None and getattr(
            drivers.clusters, "distributes", True
        )
        if not distributes:
            refuse(
                target,
                "driver",
                f"{doing}: controller-based upgrades run on the simulated estate only; no "
                f"real cluster driver of this estate hands a patch set to a controller "
                f"({', '.join(n for n in registry.names('cluster') if n != 'sim')} "
                "cannot)",
                "roll the cluster member by member with `strategy: cluster_rolling`, or run "
                "this group with `apply --sim`",
            )
        return
    platform = PLATFORM_DRIVERS.get(action)
    if platform is not None and getattr(drivers, platform[0]) is None:
        slot, kind = platform
        asset = by_id.get(target)
        names = [n for n in registry.names(kind) if n != "sim"]
        if isinstance(asset, Driven):
            hint = (
                f"add `driver: {' | '.join(names)}` and its `driver_config`"
                if names
                else f"no real {kind} driver is registered yet: run it with `apply --sim`"
            )
            refuse(target, "driver", f"{doing} needs a real {kind} driver", hint)
        else:
            refuse(
                target,
                slot,
                f"{doing} needs a {kind} driver, and real runs have none yet",
                "leave this group out of real campaigns, or run it with `apply --sim`",
            )


_STORAGE = frozenset(
    {
        StepAction.PATH_OFFLINE,
        StepAction.PATH_ONLINE,
        StepAction.VERIFY_REDUNDANCY,
        StepAction.FIRMWARE,
    }
)
_CONTROLLER = frozenset({StepAction.UPLOAD, StepAction.DISTRIBUTE})


def _storage_system(step: Step, by_id: Mapping[str, AssetBase]) -> StorageSystem | None:
    """The storage system a step works on: named by its parameters, or owning its part."""
    named = getattr(step.params, "system", None)
    if isinstance(named, str) and isinstance(by_id.get(named), StorageSystem):
        return by_id[named]  # type: ignore[return-value]  # checked just above
    for asset in by_id.values():
        if isinstance(asset, StorageSystem) and any(p.id == step.target for p in asset.parts):
            return asset
    return None


def _check_storage_step(
    step: Step,
    system: StorageSystem,
    drivers: Drivers,
    real: RealDrivers,
    registry: DriverRegistry,
    refuse: Any,
) -> None:
    """A storage part's step needs its system's real driver; a host check, its hosts."""
    doing = f"step {step.action.value} of {step.target}"
    if system.driver == "sim" or drivers.storage is None or drivers.firmware is None:
        names = [n for n in registry.names("storage") if n != "sim"]
        refuse(
            system.id,
            "driver",
            f"{doing} needs a real driver for storage system {system.id!r}",
            f"add `driver: {' | '.join(names) or '...'}` and its `driver_config`",
        )
        return
    hosts = getattr(step.params, "hosts", ())
    if hosts and drivers.paths is None:
        refuse(
            system.id,
            "hosts",
            f"{doing} checks the paths of hosts {', '.join(hosts)}, and this run has no "
            "way to read them",
            "give each attached host a `connection` (multipath -ll runs over it)",
        )
    for host in hosts:
        if host not in real.transport.connections:
            refuse(
                host,
                "connection",
                f"{doing} reads the storage paths of {host} (multipath -ll)",
                "add `connection: {transport: ssh, address: ..., user: ...}`",
            )
