"""The drivers a run uses, handed to the step executors as one value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from patchwarden.drivers.protocols import (
    ApplianceDriver,
    Clock,
    ClusterDriver,
    CommandRunner,
    FirmwareDriver,
    HealthChecker,
    HostPaths,
    HypervisorDriver,
    ImageDriver,
    LoadBalancerDriver,
    PackageDriver,
    PowerDriver,
    SnapshotDriver,
    StorageDriver,
    TrafficMetrics,
)
from patchwarden.errors import DriverError

__all__ = ["Drivers", "Observe", "required"]

Observe = Callable[[Mapping[str, Any]], Awaitable[None]]
"""Journals what a step saw before it acted (its ``observed`` record)."""

_D = TypeVar("_D")


@dataclass(frozen=True)
class Drivers:
    """The drivers a run uses; load balancers by inventory id."""

    clock: Clock
    packages: PackageDriver
    power: PowerDriver
    health: HealthChecker
    load_balancers: Mapping[str, LoadBalancerDriver]
    hypervisors: HypervisorDriver | None = None
    metrics: Mapping[str, TrafficMetrics] | None = None
    clusters: ClusterDriver | None = None
    firmware: FirmwareDriver | None = None
    appliances: ApplianceDriver | None = None
    storage: StorageDriver | None = None
    images: ImageDriver | None = None
    snapshots: SnapshotDriver | None = None
    """Takes, reverts to and deletes VM snapshots (a libvirt hypervisor's)."""
    commands: CommandRunner | None = None
    """Runs hooks on a host, over its own connection."""
    controller: CommandRunner | None = None
    """Runs hooks on the machine running the campaign."""
    paths: HostPaths | None = None
    """Storage paths as the hosts attached to a storage system see them (multipath)."""


def required(driver: _D | None, name: str) -> _D:
    """``driver``, or a clear error when this estate has none.

    Example:
        >>> required(None, "clusters")
        Traceback (most recent call last):
        ...
        patchwarden.errors.DriverError: no clusters driver is configured for this estate
    """
    if driver is None:
        raise DriverError(f"no {name} driver is configured for this estate")
    return driver
