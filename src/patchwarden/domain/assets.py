"""Assets of every kind the seed names, each in an environment with an owner to be computed.

An inventory file lists assets; ``kind`` picks the model. Every asset shares the fields of
:class:`AssetBase` (environment, roles, criticality, exposure, service model, installed
software, how to reach it, how to check its health); each kind adds what its patching needs:
a VM's hypervisor, a cluster's controller and quorum, a storage system's redundant parts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AliasChoices, Field, model_validator

from patchwarden.domain.base import Value
from patchwarden.domain.channels import Channel, NotifySpec

__all__ = [
    "ID_PATTERN",
    "Application",
    "Asset",
    "AssetBase",
    "BlueGreen",
    "Capacity",
    "Cluster",
    "Connection",
    "Criticality",
    "Driven",
    "Encryption",
    "HealthCheck",
    "Hypervisor",
    "Image",
    "Kind",
    "Layer",
    "LifecycleRule",
    "LoadBalancer",
    "OsInfo",
    "Owner",
    "Pool",
    "ServiceModel",
    "StorageAccount",
    "StoragePart",
    "StorageSystem",
    "VirtualAppliance",
    "Vm",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class Kind(StrEnum):
    """What an asset is."""

    HYPERVISOR = "hypervisor"
    VM = "vm"
    IMAGE = "image"
    VIRTUAL_APPLIANCE = "virtual_appliance"
    APPLICATION = "application"
    STORAGE_SYSTEM = "storage_system"
    CLUSTER = "cluster"
    LOAD_BALANCER = "load_balancer"
    STORAGE_ACCOUNT = "storage_account"


class ServiceModel(StrEnum):
    """How the asset is consumed; decides, with the layer, who patches it."""

    IAAS = "iaas"
    PAAS = "paas"
    SAAS = "saas"
    BARE_METAL = "bare_metal"
    ON_PREM = "on_prem"


class Layer(StrEnum):
    """A layer of the stack under the shared-responsibility model."""

    HARDWARE = "hardware"
    HYPERVISOR = "hypervisor"
    OS = "os"
    RUNTIME = "runtime"
    APPLICATION = "application"
    DATA = "data"
    APPLIANCE_FIRMWARE = "appliance_firmware"
    STORAGE_FIRMWARE = "storage_firmware"


class Owner(StrEnum):
    """Who is responsible for patching a layer."""

    PROVIDER = "provider"
    CUSTOMER = "customer"


class Criticality(StrEnum):
    """How much the business depends on an asset."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class OsInfo(Value):
    """The operating system of a host or image."""

    family: Literal["debian", "ubuntu", "rhel", "alma", "rocky", "alpine", "windows", "other"]
    release: str = ""


class Connection(Value):
    """How to reach a host. ``sim`` hosts live in the simulated estate."""

    transport: Literal["ssh", "local", "sim"] = "ssh"
    address: str = ""
    port: Annotated[int, Field(ge=1, le=65535)] = 22
    user: str = "root"
    sudo: bool = False
    reboot_command: tuple[str, ...] = ("systemctl", "reboot")
    boot_id_command: tuple[str, ...] = ("cat", "/proc/sys/kernel/random/boot_id")


class HealthCheck(Value):
    """A check that says whether an asset serves well after a change."""

    type: Literal["http", "tcp", "command"]
    target: str
    expect_status: int = 200
    expect_body: str = ""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0


class AssetBase(Value):
    """Fields every asset has."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: str = ""
    env: str
    roles: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    criticality: Criticality = Criticality.MEDIUM
    internet_facing: bool = False
    service_model: ServiceModel = Field(
        default=ServiceModel.IAAS, validation_alias=AliasChoices("service_model", "hosting")
    )
    provider: str = ""
    os: OsInfo | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    package_sources: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """Binary package → (source package, source version), for binaries of another source.

    Scans fill it (dpkg's ``${source:Package}``/``${source:Version}``, rpm's SOURCERPM);
    a binary missing from it is its own source. Debian's and Ubuntu's advisories are
    matched by source; other ecosystems only report it.
    """
    ecosystem: str = ""
    pending_reboot: bool = False
    """Whether the host asks for a reboot (``/run/reboot-required``, ``needs-restarting -r``):
    set by scans; a host pending a reboot gets a reboot step in its next patch unit."""
    pending_reboot_packages: tuple[str, ...] = ()
    """The packages that asked for it, where the host names them."""
    connection: Connection | None = None
    health: tuple[HealthCheck, ...] = ()
    patch_after: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()
    description: str = ""

    @property
    def label(self) -> str:
        """The name to show people: ``name`` if set, else ``id``."""
        return self.name or self.id

    def references(self) -> dict[str, tuple[str, ...]]:
        """Other assets this one names, by field: checked for dangling references."""
        return {"patch_after": self.patch_after} if self.patch_after else {}


class Driven(AssetBase):
    """An asset driven through a registered driver: ``driver`` names it, ``driver_config`` sets it.

    ``driver_kind`` is the registry kind the name is looked up under. ``sim`` (the default)
    is the simulated estate's: enough for plans and what-if runs; a real run needs a real
    driver, and refuses before any step when a step needs one that is not configured.
    The configuration is checked against the driver's own model when the inventory is read.
    """

    driver_kind: ClassVar[str] = ""
    driver: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = "sim"
    driver_config: dict[str, Any] = Field(default_factory=dict)


class Capacity(Value):
    """What a hypervisor can host."""

    vcpus: Annotated[int, Field(ge=1)]
    memory_gb: Annotated[int, Field(ge=1)]


class Hypervisor(Driven):
    """Virtualises a physical server; VMs are migrated off before it is patched.

    ``driver: libvirt`` with ``driver_config: {uri: ...}`` drives it for real.
    """

    driver_kind: ClassVar[str] = "hypervisor"

    kind: Literal["hypervisor"]
    platform: Literal["kvm", "esxi", "hyperv", "xen", "other"] = "kvm"
    capacity: Capacity


class Vm(AssetBase):
    """A virtual machine on one of our hypervisors, or a cloud instance (no hypervisor)."""

    kind: Literal["vm"]
    hypervisor: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    image: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    vcpus: Annotated[int, Field(ge=1)] = 1
    memory_gb: Annotated[int, Field(ge=1)] = 1
    anti_affinity: str = ""

    def references(self) -> dict[str, tuple[str, ...]]:
        """The hypervisor and image this VM names."""
        refs = super().references()
        if self.hypervisor:
            refs["hypervisor"] = (self.hypervisor,)
        if self.image:
            refs["image"] = (self.image,)
        return refs


class Image(Driven):
    """A VM template: patched offline, then instances are replaced from it."""

    driver_kind: ClassVar[str] = "image"

    kind: Literal["image"]
    format: Literal["qcow2", "raw", "vmdk", "ami", "vhd", "other"] = "qcow2"


class VirtualAppliance(Driven):
    """A vendor appliance delivered as a VM: firewall, load balancer, IDS/IPS."""

    driver_kind: ClassVar[str] = "appliance"

    kind: Literal["virtual_appliance"]
    function: Literal["firewall", "load_balancer", "ids", "ips", "waf", "vpn"]
    vendor: str
    product: str = ""
    firmware: str
    ha_peer: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    hypervisor: Annotated[str, Field(pattern=ID_PATTERN)] | None = None

    def references(self) -> dict[str, tuple[str, ...]]:
        """The HA peer and hypervisor this appliance names."""
        refs = super().references()
        if self.ha_peer:
            refs["ha_peer"] = (self.ha_peer,)
        if self.hypervisor:
            refs["hypervisor"] = (self.hypervisor,)
        return refs


class Application(Driven):
    """Software we run or subscribe to; ``hosting`` is a synonym of ``service_model``.

    ``channel`` says where new versions appear (:mod:`patchwarden.domain.channels`) and
    ``update_channel`` what a newer one there leads to: ``auto`` a campaign for it,
    ``notify`` a message to ``notify``'s webhook and addresses, ``manual`` (and the older
    spelling ``repository``) a record only. ``driver`` / ``driver_config`` name the
    installer that puts an exact version on each host of ``runs_on``.
    """

    driver_kind: ClassVar[str] = "app_installer"

    kind: Literal["application"]
    source: Literal["internal", "vendor"] = "internal"
    vendor: str = ""
    version: str = ""
    update_channel: Literal["auto", "notify", "manual", "repository"] = "manual"
    channel: Channel | None = None
    notify: NotifySpec = Field(default_factory=NotifySpec)
    runs_on: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()

    @model_validator(mode="after")
    def _channel_needs_version(self) -> Self:
        if self.channel is not None and not self.version:
            raise ValueError(
                "an application with a channel needs `version`: what it runs now, "
                "to compare the channel's versions with"
            )
        silent = self.notify.webhook is None and not self.notify.email
        if self.update_channel == "notify" and self.channel is not None and silent:
            raise ValueError(
                "update_channel: notify needs `notify: {webhook: URL}` or "
                "`notify: {email: [address]}`"
            )
        return self

    def references(self) -> dict[str, tuple[str, ...]]:
        """The hosts or clusters the application runs on."""
        refs = super().references()
        if self.runs_on:
            refs["runs_on"] = self.runs_on
        return refs


class StoragePart(Value):
    """One redundant part of a storage system, patched one at a time."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    type: Literal["san_switch", "controller", "hba", "raid_controller"]
    firmware: str
    redundancy_group: str
    vendor: str = ""
    """Who makes the part (the storage system's vendor when empty): vendor advisories
    (CSAF) are matched by vendor, product and firmware."""
    product: str = ""


class StorageSystem(Driven):
    """A SAN or array: switches, controller heads, HBAs, RAID controllers.

    ``hosts`` are the hosts that reach its LUNs through multipath: before each part goes
    and after it is back, every one of them must still see two paths to each LUN.
    ``driver: ontap`` drives a NetApp ONTAP cluster for real.
    """

    driver_kind: ClassVar[str] = "storage"

    kind: Literal["storage_system"]
    vendor: str = ""
    parts: tuple[StoragePart, ...] = Field(min_length=1)
    hosts: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()

    def references(self) -> dict[str, tuple[str, ...]]:
        """The hosts attached to it."""
        refs = super().references()
        if self.hosts:
            refs["hosts"] = self.hosts
        return refs


class Cluster(Driven):
    """Hosts that share a workload, patched node by node or through their controller."""

    driver_kind: ClassVar[str] = "cluster"

    kind: Literal["cluster"]
    software: str = ""
    members: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = Field(min_length=1)
    controller: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    quorum: Annotated[int, Field(ge=1)] | None = None
    upgrade_mode: Literal["rolling", "controller"] = "rolling"

    def references(self) -> dict[str, tuple[str, ...]]:
        """The members and the controller (master) node."""
        refs = {**super().references(), "members": self.members}
        if self.controller:
            refs["controller"] = (self.controller,)
        return refs


class BlueGreen(Value):
    """The two identical sides of a pool; ``active`` serves, the other is standby."""

    blue: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = Field(min_length=1)
    green: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = Field(min_length=1)
    active: Literal["blue", "green"] = "green"


class Pool(Value):
    """A set of backends behind a load balancer."""

    name: Annotated[str, Field(pattern=ID_PATTERN)]
    members: tuple[Annotated[str, Field(pattern=ID_PATTERN)], ...] = ()
    min_healthy: Annotated[int, Field(ge=0)] | None = None
    blue_green: BlueGreen | None = None

    def all_members(self) -> tuple[str, ...]:
        """Every backend of the pool, blue-green sides included."""
        if self.blue_green is None:
            return self.members
        return self.members + self.blue_green.blue + self.blue_green.green


class LoadBalancer(Driven):
    """Spreads traffic over pools; hosts leave it before they are patched."""

    driver_kind: ClassVar[str] = "load_balancer"
    kind: Literal["load_balancer"]
    pools: tuple[Pool, ...] = Field(min_length=1)

    def references(self) -> dict[str, tuple[str, ...]]:
        """Every pool member."""
        refs = super().references()
        members = tuple(m for pool in self.pools for m in pool.all_members())
        if members:
            refs["pools"] = members
        return refs


class Encryption(Value):
    """Encryption of a storage account."""

    at_rest: bool = True
    in_transit: bool = True
    key_management: Literal["provider", "customer"] = "provider"


class LifecycleRule(Value):
    """Move or delete data after it has not been touched for a while."""

    after_days: Annotated[int, Field(ge=1)]
    action: Literal["cool", "archive", "delete"]


class StorageAccount(Driven):
    """A cloud storage container: object, file or block, with tiers and redundancy.

    The settings here are what the inventory declares; ``driver: azure_blob`` (with its
    endpoint and a SAS) lets ``storage check`` read those the service's API shows.
    """

    driver_kind: ClassVar[str] = "storage_account"

    kind: Literal["storage_account"]
    storage_type: Literal["object", "file", "block"]
    tier: Literal["hot", "cool", "archive"] = "hot"
    redundancy: Literal["local", "zone", "geo", "geo_zone"] = "local"
    encryption: Encryption = Field(default_factory=Encryption)
    lifecycle: tuple[LifecycleRule, ...] = ()
    versioning: bool = False
    soft_delete_days: Annotated[int, Field(ge=0)] = 0
    public_access: bool = False
    min_tls: Literal["1.0", "1.1", "1.2", "1.3"] = "1.2"


Asset = Annotated[
    Hypervisor
    | Vm
    | Image
    | VirtualAppliance
    | Application
    | StorageSystem
    | Cluster
    | LoadBalancer
    | StorageAccount,
    Field(discriminator="kind"),
]
"""Any asset; the ``kind`` field picks the model."""
