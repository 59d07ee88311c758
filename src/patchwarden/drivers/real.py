"""Real drivers for an inventory: each host reached as its ``connection`` says.

Drivers come from the registry (:mod:`patchwarden.drivers.registry`), the same entry points
a third party registers through; :data:`~patchwarden.drivers.packages.PACKAGE_MANAGERS`
routes each host to its package manager.

The engine's ``Drivers`` bundle is assembled by the caller (drivers never import the
engine); :func:`real_drivers` returns the pieces, all sharing one transport so that a scan,
an install and a reboot of the same host reuse one pooled connection.

Example:
    >>> from patchwarden.domain.inventory import Inventory
    >>> real = real_drivers(Inventory(assets=()))
    >>> sorted(real.transport.transports)
    ['local', 'ssh']
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from patchwarden.domain.assets import (
    Application,
    AssetBase,
    Cluster,
    Connection,
    HealthCheck,
    Hypervisor,
    Image,
    LoadBalancer,
    StorageSystem,
    VirtualAppliance,
    Vm,
)
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.health import CheckRunner
from patchwarden.drivers.multipath import MultipathPaths
from patchwarden.drivers.packages import HostPackages, host_manager
from patchwarden.drivers.power import CommandPowerDriver
from patchwarden.drivers.protocols import (
    AppInstaller,
    ApplianceDriver,
    Clock,
    ClusterDriver,
    FirmwareDriver,
    HostPaths,
    HypervisorDriver,
    ImageDriver,
    LoadBalancerDriver,
    MeteredLoadBalancer,
    PackageDriver,
    StorageDriver,
    TrafficMetrics,
)
from patchwarden.drivers.registry import REGISTRY, DriverContext, DriverKind, DriverRegistry
from patchwarden.drivers.ssh import SshConfig, SshTransport
from patchwarden.drivers.transport import CommandResult, FileWriter, LocalTransport, Transport
from patchwarden.errors import DriverError

__all__ = [
    "FirmwareRouter",
    "HostRouter",
    "RealClock",
    "RealDrivers",
    "host_connections",
    "real_drivers",
]


class RealClock:
    """Wall-clock time (UTC) and real sleeps: the clock of real campaigns."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))

    async def idle_until(self, when: datetime, look_every: float) -> None:
        """Sleep for real until ``when``, at most ``look_every`` seconds at a time."""
        left = (when - self.now()).total_seconds()
        await self.sleep(min(left, look_every))


class HostRouter:
    """A :class:`Transport` sending each host's commands to its connection's transport."""

    def __init__(
        self, connections: Mapping[str, Connection], transports: Mapping[str, Transport]
    ) -> None:
        self.connections = dict(connections)
        self.transports = dict(transports)

    def _for(self, host: str) -> Transport:
        connection = self.connections.get(host)
        if connection is None:
            raise DriverError(f"{host}: no connection in the inventory")
        try:
            return self.transports[connection.transport]
        except KeyError:
            raise DriverError(f"{host}: no real transport for {connection.transport!r}") from None

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run through the host's transport."""
        return await self._for(host).run(host, argv, env=env, timeout_s=timeout_s)

    async def write_file(
        self, host: str, path: str, data: bytes, *, timeout_s: float | None = None
    ) -> None:
        """Write a file on ``host`` through its transport.

        Raises:
            DriverError: The host's transport cannot write files.
        """
        transport = self._for(host)
        if not isinstance(transport, FileWriter):
            raise DriverError(f"{host}: its transport cannot write files")
        await transport.write_file(host, path, data, timeout_s=timeout_s)

    async def open_unix_connection(self, host: str, path: str) -> tuple[Any, Any]:
        """A stream to a unix socket on ``host``, through its SSH connection.

        Raises:
            DriverError: The host is not reached over SSH.
        """
        transport = self._for(host)
        if not isinstance(transport, SshTransport):
            raise DriverError(f"{host}: a unix socket on it is reached over SSH only")
        return await transport.open_unix_connection(host, path)

    async def disconnect(self, host: str) -> None:
        """Forget the host's connection."""
        await self._for(host).disconnect(host)

    async def close(self) -> None:
        """Close every transport."""
        await asyncio.gather(*(t.close() for t in self.transports.values()))


@dataclass
class RealDrivers:
    """The real drivers of an inventory, over one shared transport.

    Attributes:
        transport: Every host's commands, each over its own connection.
        packages: Each host's own package manager (:data:`PACKAGE_MANAGERS`).
        power: Reboots and boot ids.
        health: The assets' health checks.
        clock: Wall-clock time.
        load_balancers: A driver for each load balancer with a real ``driver``, by id.
        metrics: Request samples of each load balancer that has a source for some pool.
        metered_pools: Which pools of each load balancer ``metrics`` covers.
        hypervisors: The estate's hypervisors with a real ``driver`` (libvirt), or ``None``.
        appliances: Fail-over of the HA pairs of appliances with a real ``driver``
            (keepalived), or ``None``.
        firmware: Those appliances' firmware (releases), or ``None``.
        images: The images with a real ``driver`` (rootfs) and their instances, or ``None``.
        clusters: The estate's clusters with a real ``driver`` (etcd), or ``None``.
        storage: The storage systems with a real ``driver`` (ontap), or ``None``.
        paths: ``multipath -ll`` on the hosts attached to those systems, or ``None``.
    """

    transport: HostRouter
    packages: HostPackages
    power: CommandPowerDriver
    health: CheckRunner
    clock: Clock
    load_balancers: dict[str, LoadBalancerDriver] = field(default_factory=dict)
    metrics: dict[str, TrafficMetrics] = field(default_factory=dict)
    metered_pools: dict[str, frozenset[str]] = field(default_factory=dict)
    hypervisors: HypervisorDriver | None = None
    appliances: ApplianceDriver | None = None
    firmware: FirmwareDriver | None = None
    images: ImageDriver | None = None
    clusters: ClusterDriver | None = None
    storage: StorageDriver | None = None
    paths: HostPaths | None = None

    @property
    def apt(self) -> AptDriver:
        """Apt's own driver over the shared transport (facts beyond the package protocol)."""
        return AptDriver(self.transport)

    def packages_for(self, host: str) -> PackageDriver:
        """The host's package driver.

        Raises:
            DriverError: The host's package manager has no registered driver.
        """
        return self.packages.driver_for(host)

    def opened(self) -> list[Any]:
        """Every driver this bundle built, each once (one object may fill two slots)."""
        found: list[Any] = []
        candidates = [
            self.hypervisors,
            self.clusters,
            self.appliances,
            self.firmware,
            self.storage,
            self.images,
            *self.load_balancers.values(),
            *self.metrics.values(),
            *self.packages.apps.values(),
        ]
        for driver in candidates:
            if driver is not None and all(driver is not other for other in found):
                found.append(driver)
        return found

    async def close(self) -> None:
        """Close every driver this bundle opened, then the pooled connections.

        Each driver with a ``close`` (plain or a coroutine) is closed once, even when an
        earlier one fails to close; the first failure is raised after all were tried.
        """
        failures: list[BaseException] = []
        for driver in [*self.opened(), self.transport]:
            closing = getattr(driver, "close", None)
            if closing is None:
                continue
            try:
                result = closing()
                if inspect.isawaitable(result):
                    await result
            except Exception as error:  # a driver's own failure to close, whatever it is
                failures.append(error)
        if failures:
            raise failures[0]


def host_connections(inventory: Inventory) -> dict[str, Connection]:
    """Asset id → connection, for assets reachable for real (not ``sim``)."""
    return {
        asset.id: asset.connection
        for asset in inventory.assets
        if asset.connection is not None and asset.connection.transport != "sim"
    }


def real_drivers(
    inventory: Inventory,
    ssh: SshConfig | None = None,
    clock: Clock | None = None,
    *,
    reboot_poll_s: float = 1.0,
    registry: DriverRegistry = REGISTRY,
) -> RealDrivers:
    """Real drivers for every host of ``inventory`` with an ``ssh`` or ``local`` connection.

    Package drivers, application installers and load balancer drivers come from the
    registry (entry points): each host's package manager by :data:`PACKAGE_MANAGERS`, each
    application's installer and each load balancer's driver by its ``driver``. A ``sim``
    load balancer or application gets none: a real run refuses its steps up front.
    """
    connections = host_connections(inventory)
    ssh_hosts = {k: c for k, c in connections.items() if c.transport == "ssh"}
    router = HostRouter(
        connections,
        {"ssh": SshTransport(ssh_hosts, ssh or SshConfig.from_env()), "local": LocalTransport()},
    )
    checks: dict[str, tuple[HealthCheck, ...]] = {a.id: a.health for a in inventory.assets}
    real_clock = clock or RealClock()
    managers = {a.id: manager for a in inventory.assets if (manager := host_manager(a)) is not None}

    def context(asset: AssetBase | None) -> DriverContext:
        return DriverContext(inventory, asset, router, real_clock)

    package_drivers: dict[str, PackageDriver] = {}
    for manager in sorted(set(managers.values())):
        spec = registry.find(DriverKind.PACKAGES, manager)
        if spec is not None:
            package_drivers[manager] = spec.build({}, context(None))
    apps: dict[str, AppInstaller] = {}
    for asset in inventory.assets:
        if isinstance(asset, Application) and asset.driver != "sim":
            spec = registry.spec(DriverKind.APP_INSTALLER, asset.driver)
            apps[asset.id] = spec.build(asset.driver_config, context(asset))
    load_balancers: dict[str, LoadBalancerDriver] = {}
    for asset in inventory.assets:
        if isinstance(asset, LoadBalancer) and asset.driver != "sim":
            spec = registry.spec(DriverKind.LOAD_BALANCER, asset.driver)
            load_balancers[asset.id] = spec.build(asset.driver_config, context(asset))
    metrics: dict[str, TrafficMetrics] = {}
    metered: dict[str, frozenset[str]] = {}
    for lb_id, driver in load_balancers.items():
        if isinstance(driver, MeteredLoadBalancer) and driver.request_metrics is not None:
            metrics[lb_id] = driver.request_metrics
            metered[lb_id] = driver.metered_pools
    storage = _storage(inventory, registry, context)
    platform = _appliances(inventory, registry, context)
    if storage is not None:
        platform["firmware"] = FirmwareRouter(
            [d for d in (platform.get("firmware"), storage) if d is not None]
        )
    attached = any(isinstance(a, StorageSystem) and a.hosts for a in inventory.assets)
    return RealDrivers(
        transport=router,
        packages=HostPackages(managers, package_drivers, apps),
        power=CommandPowerDriver(router, connections, real_clock, poll_s=reboot_poll_s),
        health=CheckRunner(checks, router, {k: c.address for k, c in connections.items()}),
        clock=real_clock,
        load_balancers=load_balancers,
        metrics=metrics,
        metered_pools=metered,
        hypervisors=_hypervisors(inventory, registry, context),
        **platform,
        images=_images(inventory, registry, context, router),
        clusters=_clusters(inventory, registry, context),
        storage=storage,
        paths=MultipathPaths(router) if storage is not None and attached else None,
    )


def _hypervisors(
    inventory: Inventory, registry: DriverRegistry, context: Any
) -> HypervisorDriver | None:
    """One driver over every hypervisor with a real ``driver``; ``None`` when there is none.

    Each asset's spec builds that host's driver; libvirt's gather into one
    :class:`~patchwarden.drivers.libvirt.LibvirtHypervisors` (the engine has one hypervisor
    driver: a migration spans two hosts).
    """
    hosts = [
        registry.spec(DriverKind.HYPERVISOR, a.driver).build(a.driver_config, context(a))
        for a in inventory.assets
        if isinstance(a, Hypervisor) and a.driver != "sim"
    ]
    if not hosts:
        return None
    from patchwarden.drivers.libvirt import LibvirtHost, LibvirtHypervisors

    if not all(isinstance(h, LibvirtHost) for h in hosts):
        raise DriverError("one run drives one kind of hypervisor; these are mixed")
    return LibvirtHypervisors.of(hosts)


class FirmwareRouter:
    """One firmware driver over several: each target goes to the driver that owns it.

    Appliances (keepalived releases) and storage parts (ONTAP nodes) both take firmware;
    the engine has one firmware driver, so each call is sent to the driver whose ``owns``
    accepts the target (the last one takes what none claims, and says it is unknown).
    """

    def __init__(self, drivers: Sequence[Any]) -> None:
        self.drivers = list(drivers)

    def _for(self, target: str) -> FirmwareDriver:
        for driver in self.drivers:
            owns = getattr(driver, "owns", None)
            if owns is not None and owns(target):
                return driver  # type: ignore[no-any-return]  # a FirmwareDriver by construction
        for driver in self.drivers:
            if getattr(driver, "owns", None) is None:
                return driver  # type: ignore[no-any-return]  # the one that does not say
        raise DriverError(f"no real firmware driver knows {target!r}")

    async def firmware(self, target: str) -> str:
        """The running firmware, from the target's own driver."""
        return await self._for(target).firmware(target)

    async def flash(self, target: str, version: str) -> None:
        """Install firmware through the target's own driver."""
        await self._for(target).flash(target, version)


def _storage(inventory: Inventory, registry: DriverRegistry, context: Any) -> Any:
    """One driver over every storage system with a real ``driver``; ``None`` when there is none.

    Each asset's spec builds that system's driver; ONTAP's gather into one
    :class:`~patchwarden.drivers.ontap.OntapSystems` (the engine has one storage driver).
    """
    systems = {
        a.id: registry.spec(DriverKind.STORAGE, a.driver).build(a.driver_config, context(a))
        for a in inventory.assets
        if isinstance(a, StorageSystem) and a.driver != "sim"
    }
    if not systems:
        return None
    from patchwarden.drivers.ontap import OntapCluster, OntapSystems

    if not all(isinstance(s, OntapCluster) for s in systems.values()):
        raise DriverError("one run drives one kind of storage system; these are mixed")
    return OntapSystems(systems)


def _appliances(inventory: Inventory, registry: DriverRegistry, context: Any) -> dict[str, Any]:
    """``appliances`` and ``firmware`` over every appliance with a real ``driver``; none if none.

    Each asset's spec builds that member's driver; keepalived's gather into one
    :class:`~patchwarden.drivers.keepalived.KeepalivedPairs` (a fail-over spans both members).
    """
    members = [
        registry.spec(DriverKind.APPLIANCE, a.driver).build(a.driver_config, context(a))
        for a in inventory.assets
        if isinstance(a, VirtualAppliance) and a.driver != "sim"
    ]
    if not members:
        return {}
    from patchwarden.drivers.keepalived import KeepalivedMember, KeepalivedPairs

    if not all(isinstance(m, KeepalivedMember) for m in members):
        raise DriverError("one run drives one kind of appliance pair; these are mixed")
    pairs = KeepalivedPairs.of(members)
    return {"appliances": pairs, "firmware": pairs}


def _images(
    inventory: Inventory, registry: DriverRegistry, context: Any, router: HostRouter
) -> ImageDriver | None:
    """One driver over every image with a real ``driver``, and the VMs built from each."""
    built = {
        a.id: registry.spec(DriverKind.IMAGE, a.driver).build(a.driver_config, context(a))
        for a in inventory.assets
        if isinstance(a, Image) and a.driver != "sim"
    }
    if not built:
        return None
    from patchwarden.drivers.rootfs import RootfsImage, RootfsImages

    if not all(isinstance(i, RootfsImage) for i in built.values()):
        raise DriverError("one run drives one kind of image; these are mixed")
    instances = {a.id: a.image for a in inventory.assets if isinstance(a, Vm) and a.image in built}
    return RootfsImages(built, instances, router)


def _clusters(inventory: Inventory, registry: DriverRegistry, context: Any) -> ClusterDriver | None:
    """One driver over every cluster with a real ``driver``; ``None`` when there is none.

    Each asset's spec builds that cluster's driver; etcd's gather into one
    :class:`~patchwarden.drivers.etcd.EtcdClusters` (the engine has one cluster driver).
    """
    clusters = [
        registry.spec(DriverKind.CLUSTER, a.driver).build(a.driver_config, context(a))
        for a in inventory.assets
        if isinstance(a, Cluster) and a.driver != "sim"
    ]
    if not clusters:
        return None
    from patchwarden.drivers.etcd import EtcdCluster, EtcdClusters

    if not all(isinstance(c, EtcdCluster) for c in clusters):
        raise DriverError("one run drives one kind of cluster; these are mixed")
    return EtcdClusters.of(clusters)
