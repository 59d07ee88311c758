"""Runs on real hosts: the engine's drivers built from an inventory, and how a run says so.

A real run records ``{"real": {"inventory": [files]}}`` in its summary as soon as it starts,
so ``patchwarden resume`` after a crash (even ``kill -9``) rebuilds the same drivers from
the same inventory files. SSH settings are not stored: they come from the environment of
whoever resumes (``PATCHWARDEN_SSH_KEY``, ``PATCHWARDEN_SSH_KNOWN_HOSTS``).

Example:
    >>> from patchwarden.domain.inventory import Inventory
    >>> run = real_run_drivers(Inventory(assets=()))
    >>> sorted(run.real.transport.transports)
    ['local', 'ssh']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan
from patchwarden.drivers.protocols import Clock, LoadBalancerDriver, SnapshotDriver
from patchwarden.drivers.real import RealDrivers, real_drivers
from patchwarden.drivers.registry import REGISTRY
from patchwarden.drivers.ssh import SshConfig
from patchwarden.drivers.transport import LocalTransport
from patchwarden.engine.steps import Drivers
from patchwarden.errors import InputError, ValidationFailed
from patchwarden.inventory import LoadedInventory, read_inventory
from patchwarden.service.cluster_checks import unsafe_clusters
from patchwarden.service.real_checks import missing_drivers
from patchwarden.service.snapshot_checks import unsupported_snapshots
from patchwarden.service.storage_checks import thin_hosts

__all__ = [
    "RealRun",
    "engine_drivers",
    "load_real_inventory",
    "missing_drivers",
    "real_drivers_for",
    "real_inventory_files",
    "real_run_drivers",
    "real_summary",
]


def engine_drivers(
    real: RealDrivers, load_balancers: Mapping[str, LoadBalancerDriver] | None = None
) -> Drivers:
    """The engine's driver bundle over the real drivers of an inventory.

    Only what the inventory configures is there: hypervisors, clusters, appliances, images
    and storage systems with a real ``driver`` (libvirt, etcd, keepalived, rootfs, ontap),
    and ``multipath -ll`` on the hosts attached to those storage systems. A plan whose
    steps need a missing one is refused before it starts (:func:`missing_drivers`).

    Args:
        real: The inventory's real drivers.
        load_balancers: Load balancer drivers to use instead of the inventory's (test
            harnesses that hold their own).
    """
    return Drivers(
        clock=real.clock,
        packages=real.packages,
        power=real.power,
        health=real.health,
        load_balancers=dict(real.load_balancers if load_balancers is None else load_balancers),
        metrics=dict(real.metrics) if load_balancers is None else None,
        hypervisors=real.hypervisors,
        appliances=real.appliances,
        firmware=real.firmware,
        images=real.images,
        snapshots=real.hypervisors if isinstance(real.hypervisors, SnapshotDriver) else None,
        clusters=real.clusters,
        storage=real.storage,
        paths=real.paths,
        commands=real.transport,
        controller=LocalTransport(),
    )


@dataclass(frozen=True)
class RealRun:
    """What a real run drives with: the engine's bundle and the real drivers under it."""

    drivers: Drivers
    real: RealDrivers


def real_run_drivers(
    inventory: Inventory,
    ssh: SshConfig | None = None,
    clock: Clock | None = None,
    *,
    load_balancers: Mapping[str, LoadBalancerDriver] | None = None,
    reboot_poll_s: float = 1.0,
    plan: Plan | None = None,
    sources: Mapping[str, tuple[str, int]] | None = None,
) -> RealRun:
    """Drivers for every host of ``inventory`` reachable over ``ssh`` or ``local``.

    ``apply --real`` and ``resume`` both build their drivers here, from the inventory
    files the run recorded, so a resumed run drives exactly what the first process did.

    Args:
        inventory: The hosts, with their connections and health checks, and the load
            balancers (and other driven assets) with their ``driver`` / ``driver_config``.
        ssh: SSH settings; default from the environment (:meth:`SshConfig.from_env`).
        clock: Time source; the wall clock by default.
        load_balancers: Load balancer drivers to use instead of the inventory's.
        reboot_poll_s: Pause between boot-id probes while a host reboots.
        plan: When given, refused (before anything runs) if a step needs a driver the
            inventory does not configure.
        sources: Where each asset is defined (``LoadedInventory.sources``), for messages.

    Raises:
        ValidationFailed: ``plan`` has steps no configured driver can carry out.
    """
    real = real_drivers(inventory, ssh or SshConfig.from_env(), clock, reboot_poll_s=reboot_poll_s)
    drivers = engine_drivers(real, load_balancers)
    if plan is not None:
        problems = missing_drivers(plan, inventory, drivers, real, sources or {})
        if problems:
            raise ValidationFailed(problems)
    return RealRun(drivers, real)


def real_summary(inventory_files: Sequence[str | Path]) -> dict[str, Any]:
    """The run-summary entry of a real run: its inventory files, absolute.

    Absolute because ``resume`` may run from another directory than ``apply`` did.

    Example:
        >>> real_summary(["/etc/pw/inventory.yaml"])
        {'real': {'inventory': ['/etc/pw/inventory.yaml']}}
    """
    return {"real": {"inventory": [str(Path(f).resolve()) for f in inventory_files]}}


def real_inventory_files(summary: Mapping[str, Any] | None) -> list[str] | None:
    """The inventory files of a real run's summary, or ``None`` when the run was not real."""
    entry = (summary or {}).get("real")
    if not isinstance(entry, Mapping):
        return None
    files = entry.get("inventory")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError("the run's summary names no inventory files to resume on")
    return list(files)


def load_real_inventory(files: Sequence[str]) -> LoadedInventory:
    """The inventory a real run uses, drivers checked; never the demo estate."""
    if not files:
        raise InputError("a real run needs --inventory: which hosts, reached how")
    return read_inventory(list(files), drivers=REGISTRY)


def real_drivers_for(
    inventory_files: Sequence[str | Path], plan: Plan, *, starting: bool = False
) -> RealRun:
    """The drivers of a real run of ``plan``, built from its inventory files.

    ``apply`` and ``resume`` both come here, so a resumed run drives what the first one did.
    A run ``starting`` (not resumed) is also refused when a cluster it rolls cannot lose
    a member now without losing its quorum, or when a host attached to a storage system it
    patches already reaches a LUN through a single path (a resumed run may have one out on
    purpose), or when a VM it would snapshot cannot have one (a disk not in qcow2).

    Raises:
        ValidationFailed: The inventory is invalid, a step of ``plan`` needs a driver it
            does not configure, or a cluster would lose its quorum (nothing has run yet).
    """
    loaded = load_real_inventory([str(f) for f in inventory_files])
    run = real_run_drivers(loaded.inventory, plan=plan, sources=loaded.sources)
    if starting:
        problems = unsafe_clusters(plan, run.drivers.clusters, loaded.sources)
        problems += thin_hosts(plan, run.drivers.paths, loaded.sources)
        problems += unsupported_snapshots(plan, run.drivers.snapshots, loaded.sources)
        if problems:
            raise ValidationFailed(problems)
    return run
