"""libvirt hypervisors: guests and their placement, capacity, maintenance, live migration.

Each hypervisor asset names its libvirt URI::

    - id: hv-01
      kind: hypervisor
      driver: libvirt
      driver_config:
        uri: qemu+tcp://10.0.0.11/system     # or qemu+ssh://root@hv-01/system, ...
        migration_timeout_s: 300
      capacity: {vcpus: 32, memory_gb: 256}

A VM of the inventory is the libvirt domain of the same name (``patchwarden inventory
discover libvirt URI...`` writes the inventory that way). The driver of a whole estate,
:class:`LibvirtHypervisors`, holds one :class:`LibvirtHost` per hypervisor:

- **Placement** is read from the hypervisors themselves: the host on which the domain is
  active (running or paused; a migration's incoming half is not counted).
- **Capacity and allocation**: ``virNodeGetInfo`` (CPUs, memory) and the sum of the active
  domains' vCPUs and memory. A migration that would take a destination over its capacity
  is refused before it starts.
- **Maintenance** is patchwarden's own fence: libvirt has none. It is recorded in a file per
  hypervisor under ``state_dir`` (JSON: on/off and since when), read by every process
  (a resumed run, a second driver); a host in maintenance takes no migrations.
- **Live migration** is ``virDomainMigrateToURI3`` with ``VIR_MIGRATE_LIVE |
  VIR_MIGRATE_PEER2PEER`` (persistent domains also ``PERSIST_DEST | UNDEFINE_SOURCE``),
  on a connection of its own, in a worker thread, while the query connection polls
  ``virDomainGetJobStats`` for progress; past ``migration_timeout_s`` the job is aborted
  and the VM stays where it was. Each finished migration is kept in
  :attr:`LibvirtHypervisors.migrations` (VM, source, destination, seconds).
- **Snapshots** (a way back from a bad patch) are libvirt's internal snapshots,
  ``virDomainSnapshotCreateXML`` with no flags on a running guest: disk *and* memory,
  stored inside the guest's qcow2 disk, so ``virDomainRevertToSnapshot`` brings back the
  running guest as it was (same boot id, its service answering again). The guest is paused
  while its memory is written (about 1 s for 160 MiB under TCG on the lab). Only guests
  whose every disk is qcow2 can have one; :meth:`LibvirtHypervisors.snapshot_support` says
  which disk is not. Snapshots live on the hypervisor that took them: a guest migrated
  since cannot be reverted to it there. Each create, revert and delete is timed in
  :attr:`LibvirtHypervisors.snapshot_timings`.

libvirt's Python binding blocks, so every call runs in a thread (:func:`asyncio.to_thread`);
the binding is imported only when a libvirt hypervisor is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from patchwarden.domain.assets import Hypervisor
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError, TransientDriverError

__all__ = [
    "DEFAULT_STATE_DIR",
    "DRIVER",
    "Guest",
    "HostCapacity",
    "LibvirtHost",
    "LibvirtHypervisors",
    "LibvirtSettings",
    "Migration",
    "MigrationProgress",
    "SnapshotTiming",
    "build_libvirt",
    "disk_refusal",
]

DEFAULT_STATE_DIR = "/var/lib/patchwarden/hypervisors"
_ACTIVE_STATES = frozenset({1, 2, 3})  # VIR_DOMAIN_RUNNING, BLOCKED, PAUSED
_QUIET: list[bool] = []
T = TypeVar("T")


class LibvirtSettings(BaseModel):
    """The ``driver_config`` of a libvirt hypervisor.

    Attributes:
        uri: The hypervisor's libvirt URI, also the peer-to-peer migration destination.
        migration_timeout_s: A migration still running after this long is aborted.
        progress_poll_s: How often a running migration's progress is read.
        state_dir: Where maintenance is recorded, one file per hypervisor.
        cpu_overcommit: vCPUs a host may run per physical CPU (memory is never overcommitted).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str = Field(pattern=r"^[a-z0-9+]+://[^\s]*/(system|session)(\?[^\s]*)?$")
    migration_timeout_s: float = Field(default=300.0, gt=0, le=86_400)
    progress_poll_s: float = Field(default=0.5, gt=0, le=60)
    state_dir: str = DEFAULT_STATE_DIR
    cpu_overcommit: float = Field(default=4.0, ge=1.0, le=64.0)


@dataclass(frozen=True)
class Guest:
    """A domain on a hypervisor."""

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    active: bool
    persistent: bool
    migrating: bool = False


@dataclass(frozen=True)
class HostCapacity:
    """What a hypervisor has (``virNodeGetInfo``) and what its active guests take."""

    vcpus: int
    memory_mib: int
    allocated_vcpus: int
    allocated_memory_mib: int

    def fits(self, vcpus: int, memory_mib: int, cpu_overcommit: float = 1.0) -> bool:
        """Whether a guest of this size fits in what is left.

        Memory is a hard limit; vCPUs may exceed physical CPUs by ``cpu_overcommit``.

        >>> HostCapacity(4, 4096, 3, 3000).fits(1, 1000)
        True
        >>> HostCapacity(4, 4096, 3, 3000).fits(2, 100)
        False
        >>> HostCapacity(4, 4096, 3, 3000).fits(2, 100, cpu_overcommit=2.0)
        True
        >>> HostCapacity(4, 4096, 3, 3000).fits(1, 1200, cpu_overcommit=2.0)
        False
        """
        return (
            self.allocated_vcpus + vcpus <= self.vcpus * cpu_overcommit
            and self.allocated_memory_mib + memory_mib <= self.memory_mib
        )


@dataclass(frozen=True)
class MigrationProgress:
    """One reading of a running migration's job."""

    vm: str
    elapsed_s: float
    data_processed: int
    data_total: int


@dataclass(frozen=True)
class Migration:
    """A finished live migration."""

    vm: str
    source: str
    destination: str
    seconds: float


@dataclass(frozen=True)
class SnapshotTiming:
    """One snapshot operation: ``create``, ``revert`` or ``delete``, and how long it took."""

    action: str
    vm: str
    name: str
    seconds: float


def _libvirt() -> Any:
    try:
        import libvirt  # type: ignore[import-not-found,import-untyped,unused-ignore]  # no stubs
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise DriverError(
            "the libvirt driver needs libvirt-python (pip install libvirt-python; "
            "it builds against libvirt-dev and pkg-config)"
        ) from error
    if not _QUIET:
        # libvirt prints every error on stderr by default; they are raised as exceptions.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _QUIET.append(True)
    return libvirt


class LibvirtHost:
    """One hypervisor reached at a libvirt URI.

    Args:
        host_id: The hypervisor's inventory id.
        settings: Its ``driver_config``.
    """

    def __init__(self, host_id: str, settings: LibvirtSettings) -> None:
        self.id = host_id
        self.settings = settings
        self._conn: Any = None
        self._lock = threading.Lock()

    # -- connections (blocking; called in threads) ------------------------------------

    def open(self) -> Any:
        """A new connection of its own (a migration uses one)."""
        libvirt = _libvirt()
        try:
            return libvirt.open(self.settings.uri)
        except libvirt.libvirtError as error:
            raise TransientDriverError(
                f"{self.id}: cannot connect to {self.settings.uri}: {error}"
            ) from None

    def conn(self) -> Any:
        """The shared query connection, reopened when the daemon went away (a restart)."""
        with self._lock:
            alive = False
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    alive = self._conn.isAlive() == 1
            if not alive:
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        self._conn.close()
                self._conn = self.open()
            return self._conn

    def close(self) -> None:
        """Close the query connection."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def query(self, read: Callable[[Any], T]) -> T:
        """``read(connection)``, once more on a fresh connection if the old one broke.

        A restarted libvirtd leaves the old connection dead without saying so (no
        keepalive without an event loop): the first call on it fails with an RPC error.
        """
        libvirt = _libvirt()
        try:
            return read(self.conn())
        except libvirt.libvirtError as error:
            if error.get_error_domain() not in (libvirt.VIR_FROM_RPC, libvirt.VIR_FROM_REMOTE):
                raise
        self.close()
        return read(self.conn())

    def guests(self) -> list[Guest]:
        """Every domain the hypervisor knows, active or defined."""
        libvirt = _libvirt()

        def read(conn: Any) -> list[Guest]:
            out = []
            for dom in conn.listAllDomains(0):
                state, max_mem_kib, _mem, vcpus, _cpu = dom.info()
                out.append(
                    Guest(
                        name=dom.name(),
                        uuid=dom.UUIDString(),
                        vcpus=int(vcpus),
                        memory_mib=int(max_mem_kib) // 1024,
                        active=state in _ACTIVE_STATES,
                        persistent=dom.isPersistent() == 1,
                        migrating=_paused_for_migration(dom, libvirt),
                    )
                )
            return sorted(out, key=lambda g: g.name)

        try:
            return self.query(read)
        except libvirt.libvirtError as error:
            raise TransientDriverError(f"{self.id}: listing domains: {error}") from None

    def capacity(self) -> HostCapacity:
        """CPUs and memory of the host, and what its active guests take."""
        libvirt = _libvirt()
        try:
            _model, memory_mib, cpus, *_ = self.query(lambda conn: conn.getInfo())
        except libvirt.libvirtError as error:
            raise TransientDriverError(f"{self.id}: node info: {error}") from None
        active = [g for g in self.guests() if g.active]
        return HostCapacity(
            vcpus=int(cpus),
            memory_mib=int(memory_mib),
            allocated_vcpus=sum(g.vcpus for g in active),
            allocated_memory_mib=sum(g.memory_mib for g in active),
        )

    def host_uuid(self) -> str:
        """The hypervisor's own UUID (``host_uuid`` of libvirtd.conf, else the machine's)."""
        import xml.etree.ElementTree as ElementTree

        caps = ElementTree.fromstring(self.query(lambda conn: conn.getCapabilities()))
        return caps.findtext("host/uuid", default="")

    def disks(self, vm: str) -> list[tuple[str, str]]:
        """``(target, format)`` of each disk (not CD-ROM) of domain ``vm``, from its XML."""
        import xml.etree.ElementTree as ElementTree

        desc = ElementTree.fromstring(self.query(lambda conn: conn.lookupByName(vm).XMLDesc(0)))
        out = []
        for disk in desc.iterfind("devices/disk"):
            if disk.get("device", "disk") != "disk":
                continue
            driver = disk.find("driver")
            target = disk.find("target")
            fmt = (driver.get("type") if driver is not None else None) or "raw"
            out.append(((target.get("dev") if target is not None else None) or "?", fmt))
        return out

    # -- maintenance ------------------------------------------------------------------

    @property
    def _maintenance_file(self) -> Path:
        return Path(self.settings.state_dir) / f"{self.id}.maintenance.json"

    def in_maintenance(self) -> bool:
        """Whether patchwarden fenced this host off."""
        try:
            return bool(json.loads(self._maintenance_file.read_text())["on"])
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError) as error:
            raise DriverError(f"{self.id}: unreadable {self._maintenance_file}: {error}") from None

    def set_maintenance(self, on: bool) -> None:
        """Record the fence (atomically: written beside, then renamed)."""
        if self.in_maintenance() == on:
            return
        path = self._maintenance_file
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"host": self.id, "on": on, "since": datetime.now(UTC).isoformat()}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record) + "\n")
        temporary.replace(path)


def disk_refusal(vm: str, host: str, disks: list[tuple[str, str]]) -> str | None:
    """Why disks ``(target, format)`` allow no internal snapshot; ``None`` if they do.

    >>> disk_refusal("vm-1", "hv-1", [("vda", "qcow2")]) is None
    True
    >>> disk_refusal("vm-1", "hv-1", [])
    'vm-1 on hv-1 has no disk (a snapshot needs a qcow2 disk)'
    >>> print(disk_refusal("vm-1", "hv-1", [("vda", "qcow2"), ("vdb", "raw")]))
    vm-1 on hv-1: disk vdb is raw, not qcow2 (libvirt's internal snapshots need every disk
    in qcow2)
    """
    if not disks:
        return f"{vm} on {host} has no disk (a snapshot needs a qcow2 disk)"
    other = [f"{target} is {fmt}" for target, fmt in disks if fmt != "qcow2"]
    if other:
        return (
            f"{vm} on {host}: disk {', '.join(other)}, not qcow2 "
            "(libvirt's internal snapshots need every disk in qcow2)"
        )
    return None


def _paused_for_migration(dom: Any, libvirt: Any) -> bool:
    """Whether a domain is paused by a migration (either half, around the switch-over)."""
    try:
        state, reason = dom.state()
    except libvirt.libvirtError:
        return False
    return bool(
        state == libvirt.VIR_DOMAIN_PAUSED
        and reason in (libvirt.VIR_DOMAIN_PAUSED_MIGRATION, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY)
    )


@dataclass
class LibvirtHypervisors:
    """The hypervisor driver of an estate's libvirt hosts (the engine's ``hypervisors``).

    Attributes:
        hosts: One :class:`LibvirtHost` per hypervisor id.
        on_progress: Called with each progress reading of a running migration.
        migrations: Finished migrations, in order.
    """

    hosts: dict[str, LibvirtHost]
    on_progress: Callable[[MigrationProgress], None] | None = None
    migrations: list[Migration] = field(default_factory=list)
    snapshot_timings: list[SnapshotTiming] = field(default_factory=list)

    @classmethod
    def of(cls, hosts: Iterable[LibvirtHost]) -> LibvirtHypervisors:
        """The driver over these hosts."""
        return cls({h.id: h for h in hosts})

    def host(self, host_id: str) -> LibvirtHost:
        """One hypervisor; an unknown id is a :class:`DriverError`."""
        try:
            return self.hosts[host_id]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise DriverError(f"no libvirt hypervisor {host_id!r} (known: {known})") from None

    # -- reading ----------------------------------------------------------------------

    async def guests(self, host: str) -> list[Guest]:
        """The domains of one hypervisor."""
        return await asyncio.to_thread(self.host(host).guests)

    async def capacity(self, host: str) -> HostCapacity:
        """A hypervisor's capacity and allocation."""
        return await asyncio.to_thread(self.host(host).capacity)

    async def _locate(self, vm: str) -> tuple[str, Guest]:
        found: list[tuple[str, Guest]] = []
        listings = await asyncio.gather(*(self.guests(h) for h in sorted(self.hosts)))
        for host_id, guests in zip(sorted(self.hosts), listings, strict=True):
            found += [(host_id, g) for g in guests if g.name == vm and g.active]
        if not found:
            raise DriverError(f"VM {vm!r} runs on none of {', '.join(sorted(self.hosts))}")
        if len(found) > 1:
            found = [(h, g) for h, g in found if not g.migrating] or found
        if len(found) > 1 or found[0][1].migrating:
            where = ", ".join(h for h, _ in found)
            raise TransientDriverError(f"VM {vm!r} is active on {where} (a migration under way?)")
        return found[0]

    # -- HypervisorDriver ---------------------------------------------------------------

    async def placement(self, vm: str) -> str:
        """The hypervisor on which ``vm`` is active."""
        return (await self._locate(vm))[0]

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Fence a hypervisor off (no migrations to it) or bring it back; recorded."""
        await asyncio.to_thread(self.host(host).set_maintenance, on)

    async def in_maintenance(self, host: str) -> bool:
        """Whether a hypervisor is fenced off."""
        return await asyncio.to_thread(self.host(host).in_maintenance)

    async def migrate(self, vm: str, destination: str) -> None:
        """Live-migrate ``vm`` to ``destination``; nothing happens if it is there already.

        Raises:
            DriverError: Unknown destination, destination in maintenance or without room,
                or the migration failed or timed out (the VM then stays on its source).
        """
        target = self.host(destination)
        source_id, guest = await self._locate(vm)
        if source_id == destination:
            return
        if await self.in_maintenance(destination):
            raise DriverError(f"cannot migrate {vm} to {destination}: host in maintenance")
        room = await self.capacity(destination)
        if not room.fits(guest.vcpus, guest.memory_mib, target.settings.cpu_overcommit):
            raise DriverError(
                f"cannot migrate {vm} ({guest.vcpus} vCPUs, {guest.memory_mib} MiB) to "
                f"{destination}: {room.allocated_vcpus} vCPUs on {room.vcpus} CPUs "
                f"(overcommit {target.settings.cpu_overcommit:g}) and "
                f"{room.allocated_memory_mib}/{room.memory_mib} MiB already allocated"
            )
        source = self.host(source_id)
        started = time.monotonic()
        done = asyncio.ensure_future(
            asyncio.to_thread(_migrate, source, vm, target.settings.uri, guest.persistent)
        )
        timeout = source.settings.migration_timeout_s
        while not done.done():
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                await asyncio.to_thread(_abort, source, vm)
                with contextlib.suppress(Exception):
                    await done
                if await self.placement(vm) == destination:
                    break  # it finished before the abort reached it
                raise DriverError(
                    f"migration of {vm} to {destination} aborted after {timeout:g} s; "
                    f"it still runs on {source_id}"
                )
            await asyncio.wait({done}, timeout=source.settings.progress_poll_s)
            if not done.done() and self.on_progress is not None:
                reading = await asyncio.to_thread(_progress, source, vm, elapsed)
                if reading is not None:
                    self.on_progress(reading)
        await done  # raises the migration's own error, if it failed
        seconds = time.monotonic() - started
        if await self.placement(vm) != destination:
            raise DriverError(f"{vm}: migration to {destination} ended but it is not there")
        self.migrations.append(Migration(vm, source_id, destination, round(seconds, 3)))

    # -- SnapshotDriver -----------------------------------------------------------------

    async def snapshot_support(self, vm: str) -> str | None:
        """Why ``vm`` cannot have an internal snapshot, or ``None`` when it can."""
        try:
            host_id, _guest = await self._locate(vm)
        except DriverError as error:
            return str(error)
        disks = await asyncio.to_thread(self.host(host_id).disks, vm)
        return disk_refusal(vm, host_id, disks)

    async def snapshots(self, vm: str) -> list[str]:
        """The names of ``vm``'s snapshots on the hypervisor it runs on, sorted."""
        host_id, _guest = await self._locate(vm)
        names = await asyncio.to_thread(
            self.host(host_id).query, lambda conn: conn.lookupByName(vm).snapshotListNames(0)
        )
        return sorted(str(n) for n in names)

    async def create_snapshot(self, vm: str, name: str) -> None:
        """An internal snapshot (disk and memory) of running ``vm``; one that exists stays.

        Raises:
            DriverError: The VM cannot be snapshotted (see :meth:`snapshot_support`) or
                libvirt refused.
        """
        reason = await self.snapshot_support(vm)
        if reason is not None:
            raise DriverError(f"cannot snapshot {vm}: {reason}")
        if name in await self.snapshots(vm):
            return
        host_id, _guest = await self._locate(vm)
        seconds = await asyncio.to_thread(_snapshot_call, self.host(host_id), vm, name, "create")
        self.snapshot_timings.append(SnapshotTiming("create", vm, name, seconds))

    async def revert_snapshot(self, vm: str, name: str) -> None:
        """Put running ``vm`` back as snapshot ``name`` holds it (disk, memory, boot id).

        Raises:
            DriverError: No such snapshot on the VM's hypervisor, or libvirt refused.
        """
        host_id, _guest = await self._locate(vm)
        if name not in await self.snapshots(vm):
            raise DriverError(f"{vm} has no snapshot {name!r} on {host_id}")
        seconds = await asyncio.to_thread(_snapshot_call, self.host(host_id), vm, name, "revert")
        self.snapshot_timings.append(SnapshotTiming("revert", vm, name, seconds))

    async def delete_snapshot(self, vm: str, name: str) -> None:
        """Delete snapshot ``name`` of ``vm``; a missing one is no error."""
        if name not in await self.snapshots(vm):
            return
        host_id, _guest = await self._locate(vm)
        seconds = await asyncio.to_thread(_snapshot_call, self.host(host_id), vm, name, "delete")
        self.snapshot_timings.append(SnapshotTiming("delete", vm, name, seconds))

    async def close(self) -> None:
        """Close every query connection."""
        for host in self.hosts.values():
            await asyncio.to_thread(host.close)


def _migrate(source: LibvirtHost, vm: str, destination_uri: str, persistent: bool) -> None:
    libvirt = _libvirt()
    flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
    if persistent:
        flags |= libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    conn = source.open()  # a connection of its own: the query one stays free for progress
    try:
        dom = conn.lookupByName(vm)
        dom.migrateToURI3(destination_uri, {}, flags)
    except libvirt.libvirtError as error:
        raise DriverError(f"migration of {vm} from {source.id} failed: {error}") from None
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _snapshot_call(host: LibvirtHost, vm: str, name: str, action: str) -> float:
    """Create, revert to or delete snapshot ``name`` of ``vm``; returns the seconds taken."""
    from xml.sax.saxutils import escape

    libvirt = _libvirt()
    started = time.monotonic()
    try:
        dom = host.conn().lookupByName(vm)
        if action == "create":
            xml = (
                f"<domainsnapshot><name>{escape(name)}</name>"
                "<description>taken by patchwarden before patching</description>"
                "</domainsnapshot>"
            )
            dom.snapshotCreateXML(xml, 0)
        elif action == "revert":
            snap = dom.snapshotLookupByName(name, 0)
            dom.revertToSnapshot(snap, libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING)
        else:
            dom.snapshotLookupByName(name, 0).delete(0)
    except libvirt.libvirtError as error:
        raise DriverError(f"{action} snapshot {name!r} of {vm} on {host.id}: {error}") from None
    return round(time.monotonic() - started, 3)


def _abort(source: LibvirtHost, vm: str) -> None:
    libvirt = _libvirt()
    with contextlib.suppress(libvirt.libvirtError):
        source.conn().lookupByName(vm).abortJob()


def _progress(source: LibvirtHost, vm: str, elapsed: float) -> MigrationProgress | None:
    libvirt = _libvirt()
    try:
        stats: Mapping[str, Any] = source.conn().lookupByName(vm).jobStats()
    except libvirt.libvirtError:
        return None
    return MigrationProgress(
        vm,
        round(elapsed, 3),
        int(stats.get("data_processed", 0)),
        int(stats.get("data_total", 0)),
    )


def build_libvirt(settings: LibvirtSettings, context: DriverContext) -> LibvirtHost:
    """The driver of one hypervisor asset; :class:`LibvirtHypervisors` gathers them."""
    if not isinstance(context.asset, Hypervisor):
        raise DriverError("the libvirt driver drives hypervisor assets")
    return LibvirtHost(context.asset.id, settings)


DRIVER = DriverSpec(
    kind=DriverKind.HYPERVISOR,
    name="libvirt",
    config=LibvirtSettings,
    factory=build_libvirt,
    summary="libvirt (QEMU/KVM) at a URI: placement, capacity, maintenance, live migration",
)
"""The entry point ``hypervisor.libvirt``."""
