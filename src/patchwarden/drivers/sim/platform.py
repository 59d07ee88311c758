"""Simulated clusters, firmware, HA appliance pairs, storage paths and VM images.

The simulation enforces what the real systems would: a storage part is flashed only with
its path offline, an appliance only while it is the standby, a leader hands over before it
is touched, so a plan that breaks those rules fails here as it would in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from patchwarden.domain.assets import Cluster, Image, StorageSystem, VirtualAppliance, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.protocols import ClusterStatus, HealthResult, MemberStatus
from patchwarden.drivers.sim.state import Host, SimTiming
from patchwarden.errors import DriverError

__all__ = ["PlatformState", "SimPlatform"]


@dataclass
class PlatformState:
    """Firmware, HA pairs, storage paths, cluster leaders and image versions of an estate."""

    fw: dict[str, str] = field(default_factory=dict)
    peer: dict[str, str] = field(default_factory=dict)
    is_active: dict[str, bool] = field(default_factory=dict)
    path_online: dict[str, bool] = field(default_factory=dict)
    part_group: dict[str, tuple[str, str]] = field(default_factory=dict)
    leaders: dict[str, str] = field(default_factory=dict)
    cluster_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    uploaded: dict[str, dict[str, str]] = field(default_factory=dict)
    image_versions: dict[str, dict[str, str]] = field(default_factory=dict)
    image_current: dict[str, str] = field(default_factory=dict)
    instance_image: dict[str, str] = field(default_factory=dict)
    original_fw: dict[str, str] = field(default_factory=dict)
    attached: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> PlatformState:
        """Read clusters, appliances, storage parts and images from the inventory."""
        state = cls()
        for asset in inventory.assets:
            if isinstance(asset, VirtualAppliance):
                state.fw[asset.id] = asset.firmware
                if asset.ha_peer:
                    state.peer[asset.id] = asset.ha_peer
                    state.is_active[asset.id] = asset.id < asset.ha_peer
            elif isinstance(asset, StorageSystem):
                for part in asset.parts:
                    state.fw[part.id] = part.firmware
                    state.path_online[part.id] = True
                    state.part_group[part.id] = (asset.id, part.redundancy_group)
                for host in asset.hosts:
                    state.attached[host] = (*state.attached.get(host, ()), asset.id)
            elif isinstance(asset, Cluster):
                state.cluster_members[asset.id] = asset.members
                state.leaders[asset.id] = asset.controller or asset.members[0]
            elif isinstance(asset, Image):
                version = f"{asset.id}@0"
                state.image_versions[version] = dict(asset.packages)
                state.image_current[asset.id] = version
        for asset in inventory.assets:
            if isinstance(asset, Vm) and asset.image and asset.image in state.image_current:
                state.instance_image[asset.id] = state.image_current[asset.image]
        state.original_fw = dict(state.fw)
        return state

    _SNAPSHOT = (
        "fw",
        "is_active",
        "path_online",
        "leaders",
        "uploaded",
        "image_versions",
        "image_current",
        "instance_image",
    )

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state of what a run changes: firmware, pairs, paths, leaders, images."""
        return {name: getattr(self, name) for name in self._SNAPSHOT}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Put back what :meth:`snapshot` took."""
        for name in self._SNAPSHOT:
            setattr(self, name, dict(data[name]))


class SimPlatform:
    """Clusters, firmware, HA pairs, storage paths and images over a :class:`PlatformState`.

    Args:
        state: What the platform is now; the drivers change it.
        hosts: The estate's hosts, whose packages a cluster's controller or an image's
            replacement changes.
        timing: The estate's clock and seed.
    """

    def __init__(self, state: PlatformState, hosts: Mapping[str, Host], timing: SimTiming) -> None:
        self.state = state
        self.hosts = hosts
        self.timing = timing

    # -- FirmwareDriver -----------------------------------------------------------------

    async def firmware(self, target: str) -> str:
        """Running firmware."""
        if target not in self.state.fw:
            raise DriverError(f"sim: {target!r} has no firmware")
        return self.state.fw[target]

    async def flash(self, target: str, version: str) -> None:
        """Install firmware; refused on an active appliance or a part still in the data path."""
        current = await self.firmware(target)
        if current == version:
            return
        if self.state.is_active.get(target):
            raise DriverError(f"{target} is the active member of its HA pair; fail over first")
        if self.state.path_online.get(target):
            raise DriverError(f"{target} still carries I/O; take its path offline first")
        await self.timing.take(300, target, "flash", version)
        self.state.fw[target] = version

    # -- ApplianceDriver ----------------------------------------------------------------

    async def active(self, appliance: str) -> str:
        """The active member of the appliance's pair."""
        peer = self.state.peer.get(appliance)
        if peer is None:
            return appliance
        return appliance if self.state.is_active[appliance] else peer

    async def failover(self, to: str) -> None:
        """Make ``to`` active; its peer becomes the standby."""
        peer = self.state.peer.get(to)
        if peer is None:
            raise DriverError(f"{to} has no HA peer to fail over from")
        if self.state.is_active[to]:
            return
        await self.timing.take(10, to, "failover")
        self.state.is_active[to], self.state.is_active[peer] = True, False

    # -- StorageDriver ------------------------------------------------------------------

    def _group(self, system: str, group: str) -> list[str]:
        return [p for p, sg in self.state.part_group.items() if sg == (system, group)]

    async def set_path(self, system: str, part: str, online: bool) -> None:
        """Take a part's path out, refusing to drop the last online path of its group."""
        if self.state.part_group.get(part, ("", ""))[0] != system:
            raise DriverError(f"{part!r} is not a part of {system!r}")
        if not online and self.state.path_online[part]:
            _, group = self.state.part_group[part]
            up = [p for p in self._group(system, group) if self.state.path_online[p]]
            if len(up) <= 1 and len(self._group(system, group)) > 1:
                raise DriverError(f"{part} carries the last online path of {system}/{group}")
        await self.timing.take(15, part, "path", str(online))
        self.state.path_online[part] = online

    async def redundancy(self, system: str, group: str) -> tuple[int, int]:
        """Online and total parts of a redundancy group."""
        parts = self._group(system, group)
        return sum(1 for p in parts if self.state.path_online[p]), len(parts)

    async def thin_luns(self, host: str) -> tuple[str, ...]:
        """A host sees one path per online part: a redundant group with one left is thin."""
        thin = []
        for system in self.state.attached.get(host, ()):
            groups = sorted({g for s, g in self.state.part_group.values() if s == system})
            for group in groups:
                parts = self._group(system, group)
                up = sum(1 for p in parts if self.state.path_online[p])
                if len(parts) > 1 and up < 2:
                    thin.append(f"{system}/{group}: {up} usable path" + ("" if up == 1 else "s"))
        return tuple(thin)

    # -- ClusterDriver ------------------------------------------------------------------

    async def status(self, cluster: str) -> ClusterStatus:
        """Members healthy while their host is up; the simulated log has no index."""
        leader = await self.leader(cluster)
        members = tuple(
            MemberStatus(m, self.hosts[m].up if m in self.hosts else True)
            for m in self.state.cluster_members[cluster]
        )
        return ClusterStatus(members, leader=leader)

    async def leader(self, cluster: str) -> str:
        """The current leader."""
        if cluster not in self.state.leaders:
            raise DriverError(f"sim: no cluster {cluster!r}")
        return self.state.leaders[cluster]

    async def handover(self, cluster: str, to: str) -> None:
        """Move leadership to another member."""
        if to not in self.state.cluster_members.get(cluster, ()):
            raise DriverError(f"{to!r} is not a member of {cluster!r}")
        await self.timing.take(20, cluster, "handover", to)
        self.state.leaders[cluster] = to

    async def upload(self, cluster: str, packages: Mapping[str, str]) -> None:
        """The controller receives the patch set."""
        await self.leader(cluster)
        await self.timing.take(30, cluster, "upload")
        self.state.uploaded[cluster] = dict(packages)

    async def distribute(self, cluster: str) -> dict[str, dict[str, str]]:
        """The controller installs the uploaded set on every member, one after another."""
        wanted = self.state.uploaded.get(cluster)
        if wanted is None:
            raise DriverError(f"nothing uploaded to {cluster!r}'s controller")
        progress: dict[str, dict[str, str]] = {}
        for member in self.state.cluster_members[cluster]:
            await self.timing.take(90, cluster, "distribute", member)
            self.hosts[member].packages.update(wanted)
            progress[member] = {n: self.hosts[member].packages[n] for n in wanted}
        return progress

    # -- ImageDriver --------------------------------------------------------------------

    async def build(self, image: str, packages: Mapping[str, str]) -> str:
        """A new image version with the packages installed offline."""
        current = self.state.image_current.get(image)
        if current is None:
            raise DriverError(f"sim: no image {image!r}")
        await self.timing.take(600, image, "build")
        version = f"{image}@{len(self.state.image_versions)}"
        self.state.image_versions[version] = {**self.state.image_versions[current], **packages}
        self.state.image_current[image] = version
        self.hosts[image].packages.update(packages)
        return version

    async def latest(self, image: str) -> str:
        """The newest version of an image."""
        if image not in self.state.image_current:
            raise DriverError(f"sim: no image {image!r}")
        return self.state.image_current[image]

    async def image_of(self, instance: str) -> str:
        """Image version an instance runs."""
        return self.state.instance_image.get(instance, "")

    async def boot_test(self, image_version: str) -> HealthResult:
        """Boot a throw-away instance and probe it."""
        if image_version not in self.state.image_versions:
            return HealthResult(False, f"unknown image version {image_version}")
        await self.timing.take(120, image_version, "boot-test")
        return HealthResult(True, f"test instance from {image_version}: GET /healthz -> 200")

    async def replace(self, instance: str, image_version: str) -> None:
        """A fresh instance from the image, same name and address."""
        if image_version not in self.state.image_versions:
            raise DriverError(f"unknown image version {image_version}")
        if self.state.instance_image.get(instance) == image_version:
            return
        await self.timing.take(240, instance, "replace", image_version)
        host = self.hosts[instance]
        host.packages.update(self.state.image_versions[image_version])
        host.boot += 1
        host.log.append(f"replace {image_version}")
        self.state.instance_image[instance] = image_version
