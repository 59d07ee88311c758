"""Virtual appliances in a keepalived VRRP pair: who holds the virtual IP, fail-over, firmware.

An appliance asset with ``driver: keepalived`` is one member of an HA pair (its ``ha_peer``
names the other). keepalived keeps the pair's virtual IP on one member, the active one;
the appliance's service (HAProxy) runs on both, so whichever holds the address serves.
Both members run keepalived with ``state BACKUP`` and ``nopreempt``: a member that comes
back does not take the address back, so a fail-over stays where it was put.

- **Active member**: the one whose interface carries the virtual IP (``ip -o addr show``).
- **Fail-over to B**: keepalived on the active member A is stopped (it gives the address up
  at once with a priority-0 advertisement), B is waited for until it holds the address and
  A no longer does, then A's keepalived is started again, as a backup.
- **Firmware**: an appliance's software release. Releases are staged in ``releases/<version>/``
  (each with its ``haproxy.cfg``); ``current`` links to the running one. Flashing checks the
  staged release (``haproxy -c``), points ``current`` at it and restarts HAProxy from it
  (``-sf``: the old process finishes what it serves). Flashing the member that holds the
  virtual IP is refused while it has a peer: fail over first.

Every command is an argument vector run over the appliance's own ``connection`` (``local``
for appliances on this machine, ``ssh`` for remote ones), under ``ip netns exec NETNS``
when the member lives in a network namespace.

Example:
    >>> KeepalivedSettings.model_validate({
    ...     "vip": "10.231.77.10",
    ...     "keepalived": {"config": "/etc/keepalived/a.conf", "pid_file": "/run/ka-a.pid"},
    ...     "service": {"root": "/srv/appliance/a", "pid_file": "/run/haproxy-a.pid"},
    ... }).vip
    IPv4Address('10.231.77.10')
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_interface
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from patchwarden.domain.assets import VirtualAppliance
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError

__all__ = [
    "DRIVER",
    "KeepalivedMember",
    "KeepalivedPairs",
    "KeepalivedSettings",
    "addresses_of",
    "build_keepalived",
]

_PATH = r"^/[A-Za-z0-9_./-]*$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9_.+~-]{0,63}$"

AbsolutePath = Annotated[str, Field(pattern=_PATH)]


class KeepalivedDaemon(BaseModel):
    """How keepalived runs on the member: its configuration and its pid file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: AbsolutePath
    pid_file: AbsolutePath


class ApplianceService(BaseModel):
    """The appliance's service (HAProxy): where its releases are staged, its pid file.

    ``root`` holds ``releases/<version>/haproxy.cfg`` and the ``current`` link.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    root: AbsolutePath
    pid_file: AbsolutePath


class KeepalivedSettings(BaseModel):
    """``driver_config`` of an appliance with ``driver: keepalived``.

    Attributes:
        vip: The pair's virtual IP; both members name the same.
        netns: The member's network namespace on its host, if it lives in one.
        keepalived: keepalived's configuration and pid file.
        service: The appliance's releases and its HAProxy's pid file.
        failover_timeout_s: How long the address may take to move.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    vip: IPv4Address | IPv6Address
    netns: Annotated[str, Field(pattern=_NAME)] | None = None
    keepalived: KeepalivedDaemon
    service: ApplianceService
    failover_timeout_s: Annotated[float, Field(gt=0, le=600)] = 20.0

    @model_validator(mode="after")
    def _pair_agrees(self, info: ValidationInfo) -> Self:
        """The HA peer, when there is one, is a keepalived member with the same address."""
        context = info.context or {}
        asset, assets = context.get("asset"), context.get("assets") or {}
        if not isinstance(asset, VirtualAppliance) or asset.ha_peer is None:
            return self
        peer = assets.get(asset.ha_peer)
        if not isinstance(peer, VirtualAppliance):
            return self  # a dangling ha_peer is reported by the reference check
        if peer.driver != "keepalived":
            raise PydanticCustomError(
                "driver_config",
                "ha_peer {peer} is driven by {driver}; a keepalived pair is two keepalived members",
                {
                    "peer": peer.id,
                    "driver": repr(peer.driver),
                    "hint": "give both `driver: keepalived`",
                },
            )
        if str(peer.driver_config.get("vip", "")) != str(self.vip):
            raise PydanticCustomError(
                "driver_config",
                "vip {vip} differs from its ha_peer {peer}'s ({other})",
                {
                    "vip": str(self.vip),
                    "peer": peer.id,
                    "other": peer.driver_config.get("vip", "none"),
                    "hint": "both members of a pair carry the same virtual IP",
                },
            )
        return self


def addresses_of(ip_output: str) -> set[str]:
    r"""The addresses (without prefix length) in ``ip -o addr show`` output.

    Example:
        >>> text = (
        ...     "2: eth0    inet 10.231.77.2/24 brd 10.231.77.255 scope global eth0\n"
        ...     "2: eth0    inet 10.231.77.10/24 scope global secondary eth0\n"
        ...     "2: eth0    inet6 fe80::1/64 scope link \n"
        ... )
        >>> sorted(addresses_of(text))
        ['10.231.77.10', '10.231.77.2', 'fe80::1']
    """
    found: set[str] = set()
    for line in ip_output.splitlines():
        words = line.split()
        for family in ("inet", "inet6"):
            if family in words and words.index(family) + 1 < len(words):
                found.add(str(ip_interface(words[words.index(family) + 1]).ip))
    return found


@dataclass(frozen=True)
class KeepalivedMember:
    """One member of a keepalived pair, reached through ``transport`` as asset ``id``."""

    id: str
    peer: str | None
    settings: KeepalivedSettings
    transport: Transport

    def _argv(self, argv: Sequence[str]) -> list[str]:
        netns = self.settings.netns
        return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)

    async def run(self, argv: Sequence[str], timeout_s: float = 30.0) -> CommandResult:
        """Run ``argv`` on the member (in its namespace)."""
        return await self.transport.run(self.id, self._argv(argv), timeout_s=timeout_s)

    async def holds_vip(self) -> bool:
        """Whether the virtual IP is on one of the member's interfaces now."""
        done = (await self.run(["ip", "-o", "addr", "show"])).check()
        return str(self.settings.vip) in addresses_of(done.stdout)

    async def _pid(self, pid_file: str) -> int | None:
        """The live process of ``pid_file``, or ``None`` when it is absent or dead."""
        done = await self.transport.run(self.id, ["cat", pid_file], timeout_s=10)
        text = done.stdout.strip() if done.ok else ""
        if not text.isdigit():
            return None
        alive = await self.transport.run(self.id, ["kill", "-0", text], timeout_s=10)
        return int(text) if alive.ok else None

    async def keepalived_running(self) -> bool:
        """Whether keepalived runs on the member."""
        return await self._pid(self.settings.keepalived.pid_file) is not None

    async def start_keepalived(self) -> None:
        """Start keepalived (VRRP only), unless it runs already."""
        if await self.keepalived_running():
            return
        daemon = self.settings.keepalived
        vrrp_pid = daemon.pid_file.removesuffix(".pid") + "-vrrp.pid"
        argv = ["keepalived", "--vrrp", "-f", daemon.config, "-p", daemon.pid_file,
                "-r", vrrp_pid]  # fmt: skip
        (await self.run(argv)).check()
        await self.wait_until(self.keepalived_running, 10.0, "keepalived to start")

    async def stop_keepalived(self) -> None:
        """Stop keepalived (it hands the address over as it goes) and wait for it to end."""
        pid = await self._pid(self.settings.keepalived.pid_file)
        if pid is None:
            return
        await self.transport.run(self.id, ["kill", "-TERM", str(pid)], timeout_s=10)

        async def gone() -> bool:
            return await self._pid(self.settings.keepalived.pid_file) is None

        await self.wait_until(gone, 15.0, "keepalived to stop")

    async def firmware(self) -> str:
        """The release ``current`` points at."""
        link = f"{self.settings.service.root}/current"
        done = (await self.transport.run(self.id, ["readlink", link], timeout_s=10)).check()
        return done.stdout.strip().rstrip("/").rsplit("/", 1)[-1]

    async def flash(self, version: str) -> None:
        """Check the staged release, point ``current`` at it, restart HAProxy from it.

        Raises:
            DriverError: The release is not staged, its configuration does not pass
                ``haproxy -c``, or HAProxy does not come up from it.
        """
        if not _is_version(version):
            raise DriverError(f"{self.id}: {version!r} is not a release name")
        root = self.settings.service.root
        release = f"{root}/releases/{version}"
        config = f"{release}/haproxy.cfg"
        staged = await self.transport.run(self.id, ["test", "-f", config], timeout_s=10)
        if not staged.ok:
            raise DriverError(
                f"{self.id}: release {version} is not staged (no {config}); upload it first"
            )
        checked = await self.run(["haproxy", "-c", "-q", "-f", config])
        if not checked.ok:
            raise DriverError(f"{self.id}: release {version} does not check: {checked.stderr}")
        linked = await self.transport.run(self.id, ["ln", "-sfn", release, f"{root}/current"])
        linked.check()
        pid_file = self.settings.service.pid_file
        old = await self._pid(pid_file)
        argv = ["haproxy", "-D", "-p", pid_file, "-f", f"{root}/current/haproxy.cfg"]
        if old is not None:
            argv += ["-sf", str(old)]
        (await self.run(argv)).check()

        async def serving() -> bool:
            pid = await self._pid(pid_file)
            return pid is not None and pid != old

        await self.wait_until(serving, 15.0, f"HAProxy to run release {version}")

    async def wait_until(self, condition: Any, timeout_s: float, what: str) -> None:
        """Poll ``condition`` (an async callable) until true; raises DriverError on timeout."""
        deadline = time.monotonic() + timeout_s
        while not await condition():
            if time.monotonic() >= deadline:
                raise DriverError(
                    f"{self.id}: timed out after {timeout_s:.0f} s waiting for {what}"
                )
            await asyncio.sleep(0.1)


def _is_version(text: str) -> bool:
    return re.fullmatch(_VERSION, text) is not None


class KeepalivedPairs:
    """The engine's appliance and firmware driver over every keepalived member of an estate."""

    def __init__(self, members: Mapping[str, KeepalivedMember]) -> None:
        self.members = dict(members)

    @classmethod
    def of(cls, members: Sequence[KeepalivedMember]) -> KeepalivedPairs:
        """Gather the members built one per asset."""
        return cls({m.id: m for m in members})

    def _member(self, appliance: str) -> KeepalivedMember:
        try:
            return self.members[appliance]
        except KeyError:
            raise DriverError(f"{appliance} is not a keepalived appliance") from None

    def _pair(self, appliance: str) -> list[KeepalivedMember]:
        member = self._member(appliance)
        return [member] if member.peer is None else [member, self._member(member.peer)]

    async def _holder(self, appliance: str, patience_s: float) -> str:
        """The member holding the address; waits ``patience_s`` while it moves."""
        pair = self._pair(appliance)
        deadline = time.monotonic() + patience_s
        while True:
            holders = [m.id for m in pair if await m.holds_vip()]
            if len(holders) == 1:
                return holders[0]
            if time.monotonic() >= deadline:
                vip = pair[0].settings.vip
                if holders:
                    raise DriverError(f"{' and '.join(holders)} both hold {vip}: split brain")
                raise DriverError(f"no member of {appliance}'s pair holds {vip}")
            await asyncio.sleep(0.1)

    async def active(self, appliance: str) -> str:
        """The member of ``appliance``'s pair that holds the virtual IP."""
        return await self._holder(appliance, 5.0)

    async def failover(self, to: str) -> None:
        """Make ``to`` hold its pair's virtual IP; nothing to do when it already does.

        Raises:
            DriverError: ``to`` has no HA peer, or the address did not move within
                ``failover_timeout_s``.
        """
        target = self._member(to)
        if target.peer is None:
            raise DriverError(f"{to} has no ha_peer: there is no member to fail over from")
        holder = await self._holder(to, target.settings.failover_timeout_s)
        if holder == to:
            # A fail-over cut short (patchwarden killed after stopping the old member's
            # keepalived) left the address here and the peer without its backup: restart it.
            await self._member(target.peer).start_keepalived()
            return
        await target.start_keepalived()  # a backup must be there to take the address
        old = self._member(holder)
        await old.stop_keepalived()

        async def moved() -> bool:
            return await target.holds_vip() and not await old.holds_vip()

        await target.wait_until(
            moved, target.settings.failover_timeout_s, f"{target.settings.vip} to move here"
        )
        await old.start_keepalived()  # back as a backup: nopreempt keeps the address here
        if await self._holder(to, target.settings.failover_timeout_s) != to:
            raise DriverError(f"{target.settings.vip} went back to {holder} after the fail-over")

    async def firmware(self, target: str) -> str:
        """The release the appliance runs."""
        return await self._member(target).firmware()

    async def flash(self, target: str, version: str) -> None:
        """Run ``version`` on an appliance that does not hold the address (or has no peer).

        Raises:
            DriverError: The appliance is its pair's active member.
        """
        member = self._member(target)
        if member.peer is not None and await member.holds_vip():
            raise DriverError(
                f"{target} holds {member.settings.vip}: fail over to {member.peer} before "
                "flashing it"
            )
        await member.flash(version)


def build_keepalived(settings: KeepalivedSettings, context: DriverContext) -> KeepalivedMember:
    """The driver of one appliance asset; :class:`KeepalivedPairs` gathers them."""
    asset = context.asset
    if not isinstance(asset, VirtualAppliance):
        raise DriverError("the keepalived driver drives virtual_appliance assets")
    return KeepalivedMember(asset.id, asset.ha_peer, settings, context.transport)


DRIVER = DriverSpec(
    kind=DriverKind.APPLIANCE,
    name="keepalived",
    config=KeepalivedSettings,
    factory=build_keepalived,
    summary="an HAProxy appliance pair under keepalived VRRP: virtual IP, fail-over, releases",
)
"""The entry point ``appliance.keepalived``."""
