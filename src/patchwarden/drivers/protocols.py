"""The small protocols the engine drives. The simulated estate implements every one.

Methods are idempotent where the engine needs them to be (check, then act): draining a
drained server or installing an installed version does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "AppInstaller",
    "ApplianceDriver",
    "Clock",
    "ClusterDriver",
    "ClusterStatus",
    "CommandOutput",
    "CommandRunner",
    "FirmwareDriver",
    "HealthChecker",
    "HealthResult",
    "HostPaths",
    "HypervisorDriver",
    "ImageDriver",
    "LoadBalancerDriver",
    "MemberStatus",
    "MeteredLoadBalancer",
    "PackageDriver",
    "PowerDriver",
    "RequestSample",
    "ServiceRestarter",
    "SnapshotDriver",
    "StorageDriver",
    "TrafficMetrics",
]


@runtime_checkable
class Clock(Protocol):
    """Time as the engine sees it: real on real hosts, virtual in the simulated estate."""

    def now(self) -> datetime:
        """The current time (aware, UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    async def idle_until(self, when: datetime, look_every: float) -> None:
        """Wait, with nothing else running, until ``when`` or ``look_every`` seconds passed.

        The engine calls this when the whole run waits (a window, a soak) and no step is
        in flight. A real clock sleeps the shorter of the two, so the caller looks at a
        person's pause or abort in between; a virtual clock may jump straight to ``when``,
        since nothing in the simulation could happen in between. Returns at once when
        ``when`` has passed.
        """
        ...


class PackageDriver(Protocol):
    """Reads and changes installed packages on a host."""

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        ...

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions (upgrade or downgrade), in the given order."""
        ...


@runtime_checkable
class ServiceRestarter(Protocol):
    """Tells which services run outdated files after an update, and restarts them.

    Package drivers of real hosts implement it (``needrestart``, ``needs-restarting``);
    a patch step asks it when its package driver does.
    """

    async def services_to_restart(self, host: str) -> tuple[str, ...] | None:
        """Units running files an update replaced; ``None`` when the host cannot tell."""
        ...

    async def restart_services(self, host: str, units: Sequence[str]) -> None:
        """Restart these units. Raises DriverError when one fails to restart."""
        ...


class AppInstaller(Protocol):
    """Puts an exact version of one application on a host, and says which one is there.

    Rollback is an install of the version read before the update, so an installer keeps
    what it needs to go back (a venv reinstalls from its index; a release directory keeps
    each release it unpacked).
    """

    async def installed(self, host: str) -> str | None:
        """The version running on ``host``; ``None`` when the application is not there."""
        ...

    async def install(self, host: str, version: str) -> None:
        """Make ``version`` the one running on ``host``; raises DriverError when it cannot."""
        ...


class PowerDriver(Protocol):
    """Reboots a host and tells whether it came back."""

    async def boot_id(self, host: str) -> str:
        """An id that changes at every boot."""
        ...

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot and wait for a new boot id; returns it. Raises DriverError on timeout."""
        ...


@dataclass(frozen=True)
class HealthResult:
    """The outcome of a health check."""

    ok: bool
    detail: str = ""


class HealthChecker(Protocol):
    """Checks that an asset serves well."""

    async def check(self, host: str) -> HealthResult:
        """Run the asset's health checks."""
        ...


class LoadBalancerDriver(Protocol):
    """Takes backends out of rotation and back."""

    async def drain(self, pool: str, member: str) -> None:
        """Stop sending new sessions to a backend."""
        ...

    async def sessions(self, pool: str, member: str) -> int:
        """Sessions still open on a backend."""
        ...

    async def enable(self, pool: str, member: str) -> None:
        """Put a backend back into rotation."""
        ...

    async def state(self, pool: str, member: str) -> str:
        """``ready``, ``drain`` or ``maint``."""
        ...

    async def set_weight(self, pool: str, member: str, weight: int) -> None:
        """Share of new sessions a backend gets, relative to the others (0-256)."""
        ...

    async def active_side(self, pool: str) -> str:
        """The blue-green side serving traffic: ``blue`` or ``green``."""
        ...

    async def switch(self, pool: str, side: str) -> None:
        """Send all traffic of a blue-green pool to ``side`` at once."""
        ...


@dataclass(frozen=True)
class RequestSample:
    """One request as the load balancer saw it."""

    ok: bool
    latency_ms: float


class TrafficMetrics(Protocol):
    """Per-backend request samples, for canary analysis and a blue-green bake."""

    async def watch(self) -> None:
        """Start collecting requests now, if not already (idempotent).

        Called before a window of traffic is judged: a source that listens (a log
        receiver) starts here, so it never has to hold a socket a run does not need.
        """
        ...

    async def samples(self, pool: str, member: str, seconds: float) -> list[RequestSample]:
        """Requests a backend served over the last ``seconds``."""
        ...


class CommandOutput(Protocol):
    """What a command did: its exit status and output."""

    @property
    def exit_status(self) -> int:
        """0 for success."""
        ...

    @property
    def stdout(self) -> str:
        """Its standard output."""
        ...

    @property
    def stderr(self) -> str:
        """Its standard error."""
        ...


class CommandRunner(Protocol):
    """Runs an argument vector (never a shell string) on a host: a campaign's hooks."""

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandOutput:
        """Run ``argv`` on ``host``; a timeout or an unreachable host raises DriverError."""
        ...


@runtime_checkable
class MeteredLoadBalancer(Protocol):
    """A load balancer driver that can also tell how its pools' requests went."""

    @property
    def request_metrics(self) -> TrafficMetrics | None:
        """Its request samples, or ``None`` when no pool is configured with a source."""
        ...

    @property
    def metered_pools(self) -> frozenset[str]:
        """The pools ``request_metrics`` covers."""
        ...


class HypervisorDriver(Protocol):
    """Moves VMs between hypervisors and fences a host off for maintenance."""

    async def placement(self, vm: str) -> str:
        """The hypervisor a VM runs on."""
        ...

    async def migrate(self, vm: str, destination: str) -> None:
        """Live-migrate a VM (no-op if it is already there)."""
        ...

    async def set_maintenance(self, host: str, on: bool) -> None:
        """Fence a hypervisor off (no new VMs) or bring it back."""
        ...


@runtime_checkable
class SnapshotDriver(Protocol):
    """Snapshots of a VM taken on its hypervisor: a way back from a bad patch.

    Every call is idempotent, so a resumed run may repeat it: creating a snapshot that
    exists, or deleting one that does not, changes nothing.
    """

    async def snapshot_support(self, vm: str) -> str | None:
        """Why ``vm`` cannot be snapshotted (a sentence), or ``None`` when it can."""
        ...

    async def snapshots(self, vm: str) -> list[str]:
        """The names of ``vm``'s snapshots, sorted."""
        ...

    async def create_snapshot(self, vm: str, name: str) -> None:
        """Snapshot ``vm`` (disk and memory where the hypervisor can) as ``name``."""
        ...

    async def revert_snapshot(self, vm: str, name: str) -> None:
        """Put ``vm`` back in the state of snapshot ``name``; it stays."""
        ...

    async def delete_snapshot(self, vm: str, name: str) -> None:
        """Delete snapshot ``name`` of ``vm``; the VM keeps its current state."""
        ...


@dataclass(frozen=True)
class MemberStatus:
    """One cluster member as the cluster's own API reports it.

    Attributes:
        name: The member's asset id.
        healthy: It answers and serves (for etcd: a linearizable read through it works).
        raft_index: How far its log is applied (``None`` when it does not answer or the
            cluster has no such notion); a member rejoining has caught up once this reaches
            the leader's.
    """

    name: str
    healthy: bool
    raft_index: int | None = None


@dataclass(frozen=True)
class ClusterStatus:
    """Members, their health and the leader of a quorum cluster, read at one moment.

    Rules: a majority of all members is the quorum (``members // 2 + 1``) unless the
    cluster states its own; a member may leave service only when the healthy members
    other than it still reach the quorum.

    Example:
        >>> status = ClusterStatus(
        ...     (MemberStatus("a", True), MemberStatus("b", True), MemberStatus("c", False)),
        ...     leader="a")
        >>> status.quorum, status.healthy
        (2, ('a', 'b'))
        >>> status.survives_without("c"), status.survives_without("b")
        (True, False)
    """

    members: tuple[MemberStatus, ...]
    leader: str | None = None
    quorum_size: int | None = None

    @property
    def quorum(self) -> int:
        """Members that must be healthy for the cluster to serve."""
        return self.quorum_size or len(self.members) // 2 + 1

    @property
    def healthy(self) -> tuple[str, ...]:
        """Names of the healthy members, in member order."""
        return tuple(m.name for m in self.members if m.healthy)

    def member(self, name: str) -> MemberStatus | None:
        """The status of member ``name``, or ``None`` if it is not a member."""
        return next((m for m in self.members if m.name == name), None)

    def survives_without(self, name: str) -> bool:
        """Whether the healthy members other than ``name`` still make a quorum."""
        return len([m for m in self.healthy if m != name]) >= self.quorum


class ClusterDriver(Protocol):
    """Cluster management: members and health, leadership, controller-based distribution."""

    async def status(self, cluster: str) -> ClusterStatus:
        """Every member's health and applied index, and the leader, from the cluster's API."""
        ...

    async def leader(self, cluster: str) -> str:
        """The member that leads (master, primary) now."""
        ...

    async def handover(self, cluster: str, to: str) -> None:
        """Move leadership to another member."""
        ...

    async def upload(self, cluster: str, packages: Mapping[str, str]) -> None:
        """Hand a patch set to the cluster's controller."""
        ...

    async def distribute(self, cluster: str) -> dict[str, dict[str, str]]:
        """Let the controller roll the uploaded set out; returns each member's versions."""
        ...


class FirmwareDriver(Protocol):
    """Firmware of appliances and storage parts."""

    async def firmware(self, target: str) -> str:
        """The running firmware version."""
        ...

    async def flash(self, target: str, version: str) -> None:
        """Install a firmware version (the target restarts)."""
        ...


class ApplianceDriver(Protocol):
    """HA pairs of virtual appliances."""

    async def active(self, appliance: str) -> str:
        """Which member of the appliance's pair is active."""
        ...

    async def failover(self, to: str) -> None:
        """Make ``to`` the active member of its pair."""
        ...


class StorageDriver(Protocol):
    """Paths through a redundant storage system."""

    async def set_path(self, system: str, part: str, online: bool) -> None:
        """Take one part's path out of service, or back in."""
        ...

    async def redundancy(self, system: str, group: str) -> tuple[int, int]:
        """``(online, total)`` parts of a redundancy group."""
        ...


class HostPaths(Protocol):
    """Storage paths as each host sees them (multipath): does it still have two to each LUN?"""

    async def thin_luns(self, host: str) -> tuple[str, ...]:
        """The LUNs ``host`` reaches through fewer than two usable paths; empty when none.

        Raises:
            DriverError: The host cannot tell (unreachable, no multipath device at all).
        """
        ...


class ImageDriver(Protocol):
    """VM images (templates) and the instances built from them."""

    async def build(self, image: str, packages: Mapping[str, str]) -> str:
        """Patch the image offline; returns the new image version's id."""
        ...

    async def latest(self, image: str) -> str:
        """The newest version of an image."""
        ...

    async def image_of(self, instance: str) -> str:
        """The image version an instance runs."""
        ...

    async def boot_test(self, image_version: str) -> HealthResult:
        """Boot a throw-away instance from an image version and check it."""
        ...

    async def replace(self, instance: str, image_version: str) -> None:
        """Replace an instance by a new one from the image version (same name, address)."""
        ...
