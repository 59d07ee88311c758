"""HAProxy as a load balancer driver, over its runtime API (the stats socket).

Every action is one runtime-API command on the admin socket, sent over an asyncio unix
socket (no shell, no ``socat``): ``set server B/S state drain|ready|maint``, ``set weight``,
``show stat`` / ``show servers state`` / ``show servers conn`` (read by the pure parsers of
:mod:`patchwarden.drivers.haproxy_stats`). Names that go into a command are checked
against HAProxy's own name rules first, so data can never add a second command.

Blue-green pools are two backends chosen per request by a map
(``use_backend %[str(<key>),map(<map file>)]``): switching is one ``set map`` command, so
every request after it goes to the new side and none is split between them; flipping back
is the same command with the old side.

Configuration, per load-balancer asset of the inventory (:class:`HaproxySettings`;
``address: host:port`` or ``via_ssh: <host id>`` reach the API another way)::

    - id: lb-1
      kind: load_balancer
      driver: haproxy
      driver_config:
        socket: /run/haproxy/admin.sock
        pools:
          web: {backend: web, metrics: {log: "10.0.0.2:5514"}}   # backend default: the pool's name
          api: {map: /etc/haproxy/bluegreen.map, key: api, blue: api_blue, green: api_green}
      pools: [...]

A pool's ``metrics: {log: host:port}`` is where HAProxy's request log arrives on the
machine running the campaign: the canary analysis and the blue-green bake read their
request samples from it (:class:`~patchwarden.drivers.traffic.HaproxyLogMetrics`).

Server names are the members' inventory ids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from patchwarden.domain.assets import LoadBalancer
from patchwarden.drivers.haproxy_config import (
    BlueGreenBackends,
    HaproxyConfig,
    HaproxyPool,
    HaproxySettings,
)
from patchwarden.drivers.haproxy_stats import (
    ServerStat,
    parse_show_map,
    parse_show_servers_conn,
    parse_show_servers_state,
    parse_show_stat,
)
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.drivers.traffic import HaproxyLogMetrics, log_listener
from patchwarden.drivers.transport import UnixSocketForwarder
from patchwarden.errors import DriverError, TransientDriverError

__all__ = [
    "DRIVER",
    "BlueGreenBackends",
    "HaproxyConfig",
    "HaproxyDriver",
    "HaproxyPool",
    "HaproxySettings",
    "RuntimeApi",
    "StreamReaderLike",
    "StreamWriterLike",
    "build_haproxy",
]

_STATES = ("ready", "drain", "maint")
# show stat's status of a server that takes requests (``no check``: checks are off).
_SERVING = frozenset({"UP", "no check"})
T = TypeVar("T")


class StreamWriterLike(Protocol):
    """The writing half of a stream: asyncio's, or an SSH channel's."""

    def write(self, data: bytes) -> None:
        """Queue bytes."""

    async def drain(self) -> None:
        """Wait until they are sent."""

    def close(self) -> None:
        """Close the stream."""


class StreamReaderLike(Protocol):
    """The reading half of a stream."""

    async def read(self, n: int = -1) -> bytes:
        """Read to EOF (``n == -1``)."""
        ...


Opener = Callable[[], Awaitable[tuple[StreamReaderLike, StreamWriterLike]]]
"""Opens one connection to the runtime API."""


class RuntimeApi:
    """HAProxy's runtime API: one command per connection, answer to EOF.

    Args:
        socket: The admin socket's path (on this machine, or on the SSH host of ``opener``).
        timeout_s: Limit of one command.
        opener: How to connect; a unix connection to ``socket`` here by default.
        where: How the API is reached, for messages (default: the socket's path).
    """

    def __init__(
        self,
        socket: str,
        timeout_s: float = 5.0,
        opener: Opener | None = None,
        where: str = "",
    ) -> None:
        self.socket = socket
        self.timeout_s = timeout_s
        self.where = where or f"stats socket {socket}"
        self._open: Opener = opener or self._open_unix

    async def _open_unix(self) -> tuple[StreamReaderLike, StreamWriterLike]:
        return await asyncio.open_unix_connection(self.socket)

    async def command(self, command: str) -> str:
        """Send one command and return HAProxy's answer.

        Raises:
            TransientDriverError: The socket did not answer in time or refused.
            DriverError: The socket is missing.
        """
        if "\n" in command or ";" in command:
            raise DriverError(f"refusing a runtime-API command with a separator: {command!r}")
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await self._open()
                try:
                    writer.write(command.encode() + b"\n")
                    await writer.drain()
                    data = await reader.read()
                finally:
                    writer.close()
        except FileNotFoundError:
            raise DriverError(f"HAProxy {self.where} does not exist") from None
        except TimeoutError:
            raise TransientDriverError(f"HAProxy did not answer {command!r} in time") from None
        except OSError as error:
            raise TransientDriverError(f"HAProxy {self.where}: {error}") from None
        return data.decode(errors="replace") if isinstance(data, bytes) else str(data)

    @classmethod
    def tcp(cls, address: str, timeout_s: float = 5.0) -> RuntimeApi:
        """The runtime API on a TCP ``stats socket`` (``host:port``)."""
        host, _, port = address.rpartition(":")
        host = host.strip("[]")

        async def connect() -> tuple[StreamReaderLike, StreamWriterLike]:
            return await asyncio.open_connection(host, int(port))

        return cls("", timeout_s, connect, where=f"runtime API at {address}")

    async def act(self, command: str) -> None:
        """Send a command that answers nothing when it works; its answer is the error."""
        answer = (await self.command(command)).strip()
        if answer:
            raise DriverError(f"HAProxy refused {command!r}: {answer}")


class HaproxyDriver:
    """The load-balancer protocol for one HAProxy, plus its counters and request log.

    Pools whose settings name a request log (``metrics: {log: ...}``) are measured by
    :attr:`request_metrics`; the log is received only once a run watches it.
    """

    def __init__(self, config: HaproxyConfig, api: RuntimeApi | None = None) -> None:
        self.config = config
        if api is None and config.address:
            api = RuntimeApi.tcp(config.address, config.timeout_s)
        self.api = api or RuntimeApi(config.socket, config.timeout_s)
        self.metered_pools = frozenset(n for n, p in config.pools.items() if p.log)
        self.request_metrics: HaproxyLogMetrics | None = None
        if self.metered_pools:
            listener = log_listener(config.log_address())
            self.request_metrics = HaproxyLogMetrics(
                listener.log, config, listener, self.metered_pools
            )

    def _where(self, pool: str, member: str) -> tuple[str, str]:
        settings = self._pool(pool)
        backend = settings.members.get(member)
        if backend is None:
            raise DriverError(f"{self.config.lb_id}: {member!r} is not in pool {pool!r}")
        return backend, member

    def _pool(self, pool: str) -> HaproxyPool:
        try:
            return self.config.pools[pool]
        except KeyError:
            raise DriverError(f"{self.config.lb_id}: no pool {pool!r}") from None

    async def _set_state(self, pool: str, member: str, state: str) -> None:
        if state not in _STATES:
            raise DriverError(f"unknown server state {state!r}")
        backend, server = self._where(pool, member)
        await self.api.act(f"set server {backend}/{server} state {state}")

    async def drain(self, pool: str, member: str) -> None:
        """``set server B/S state drain``: no new requests; those in flight finish."""
        await self._set_state(pool, member, "drain")

    async def enable(self, pool: str, member: str) -> None:
        """``set server B/S state ready``, then wait until HAProxy's own checks see it up.

        Until its checks pass HAProxy sends it nothing, so the next host drained would make
        two out: the step ends only when the server really serves again.
        """
        await self._set_state(pool, member, "ready")
        backend, server = self._where(pool, member)
        await self._wait_up(backend, (server,))

    async def _wait_up(self, backend: str, servers: tuple[str, ...]) -> None:
        start = time.monotonic()
        while True:
            stats = _parse(parse_show_stat, await self.api.command("show stat"))
            status = {s.server: s.status for s in stats if s.backend == backend}
            down = [f"{name} {status.get(name, 'absent')}" for name in servers
                    if status.get(name) not in _SERVING]  # fmt: skip
            if not down:
                return
            if time.monotonic() - start > self.config.up_wait_s:
                raise TransientDriverError(
                    f"{self.config.lb_id}: {backend}: not up after "
                    f"{self.config.up_wait_s:.0f} s: {', '.join(down)}"
                )
            await asyncio.sleep(0.1)

    async def maint(self, pool: str, member: str) -> None:
        """``set server B/S state maint``: out at once, health checks stopped too."""
        await self._set_state(pool, member, "maint")

    async def state(self, pool: str, member: str) -> str:
        """``ready``, ``drain`` or ``maint``, from ``show servers state``."""
        backend, server = self._where(pool, member)
        text = await self.api.command(f"show servers state {backend}")
        for entry in _parse(parse_show_servers_state, text):
            if entry.server == server:
                return entry.state
        raise DriverError(f"{self.config.lb_id}: HAProxy has no server {backend}/{server}")

    async def counters(self, pool: str, member: str) -> ServerStat:
        """The server's ``show stat`` line: status, weight, sessions, request counters."""
        backend, server = self._where(pool, member)
        for entry in _parse(parse_show_stat, await self.api.command("show stat")):
            if (entry.backend, entry.server) == (backend, server):
                return entry
        raise DriverError(f"{self.config.lb_id}: HAProxy has no server {backend}/{server}")

    async def sessions(self, pool: str, member: str) -> int:
        """Requests still on the server: its current sessions or connections in use."""
        backend, server = self._where(pool, member)
        stat = await self.counters(pool, member)
        text = await self.api.command(f"show servers conn {backend}")
        used = [c.used_cur for c in _parse(parse_show_servers_conn, text) if c.server == server]
        return max(stat.scur, *used) if used else stat.scur

    async def wait_drained(
        self, pool: str, member: str, timeout_s: float, poll_s: float = 0.1
    ) -> float:
        """Wait until the server has no session left; returns the seconds waited.

        Raises:
            DriverError: Sessions were still open after ``timeout_s``.
        """
        start = time.monotonic()
        while (left := await self.sessions(pool, member)) > 0:
            if time.monotonic() - start > timeout_s:
                raise DriverError(f"{member}: {left} sessions still open after {timeout_s} s")
            await asyncio.sleep(poll_s)
        return time.monotonic() - start

    async def set_weight(self, pool: str, member: str, weight: int) -> None:
        """``set weight B/S W``: the share of new requests, relative to the others."""
        if not 0 <= weight <= 256:
            raise DriverError(f"weight {weight} out of range 0-256")
        backend, server = self._where(pool, member)
        await self.api.act(f"set weight {backend}/{server} {int(weight)}")

    def _bg(self, pool: str) -> BlueGreenBackends:
        bg = self._pool(pool).blue_green
        if bg is None:
            raise DriverError(f"{self.config.lb_id}: pool {pool!r} is not blue-green")
        return bg

    async def active_side(self, pool: str) -> str:
        """The side the map sends requests to."""
        bg = self._bg(pool)
        entries = parse_show_map(await self.api.command(f"show map {bg.map}"))
        side = bg.side_of(entries.get(bg.key, ""))
        if side is None:
            raise DriverError(
                f"{self.config.lb_id}: map {bg.map} sends {bg.key!r} to "
                f"{entries.get(bg.key)!r}, neither {bg.blue} nor {bg.green}"
            )
        return side

    async def switch(self, pool: str, side: str) -> None:
        """All new requests to ``side`` with one ``set map``; requests in flight finish."""
        bg = self._bg(pool)
        if side not in ("blue", "green"):
            raise DriverError(f"unknown side {side!r}")
        backend = bg.blue if side == "blue" else bg.green
        # Never switch to a side HAProxy's checks do not see serving yet: every request
        # after the switch would find no server.
        settings = self._pool(pool)
        await self._wait_up(backend, tuple(m for m, b in settings.members.items() if b == backend))
        entries = parse_show_map(await self.api.command(f"show map {bg.map}"))
        verb = "set" if bg.key in entries else "add"
        await self.api.act(f"{verb} map {bg.map} {bg.key} {backend}")
        if await self.active_side(pool) != side:
            raise DriverError(f"{self.config.lb_id}: switch of {pool!r} to {side} did not hold")


def _parse(parser: Callable[[str], list[T]], text: str) -> list[T]:
    try:
        return list(parser(text))
    except (ValueError, KeyError) as error:
        raise DriverError(f"unexpected answer from HAProxy ({error}): {text[:200]!r}") from None


def build_haproxy(settings: HaproxySettings, context: DriverContext) -> HaproxyDriver:
    """The driver of one load balancer asset, reaching the runtime API as configured."""
    lb = context.asset
    if not isinstance(lb, LoadBalancer):
        raise DriverError("the haproxy driver drives load_balancer assets")
    config = HaproxyConfig.resolve(lb, settings)
    if not config.via_ssh:
        return HaproxyDriver(config)
    transport, host, path = context.transport, config.via_ssh, config.socket
    if not isinstance(transport, UnixSocketForwarder):
        raise DriverError(f"{lb.id}: via_ssh needs an SSH transport to {host}")
    forwarder = transport

    async def connect() -> tuple[StreamReaderLike, StreamWriterLike]:
        reader, writer = await forwarder.open_unix_connection(host, path)
        return reader, writer

    api = RuntimeApi(path, config.timeout_s, connect, where=f"stats socket {path} on {host}")
    return HaproxyDriver(config, api)


DRIVER = DriverSpec(
    kind=DriverKind.LOAD_BALANCER,
    name="haproxy",
    config=HaproxySettings,
    factory=build_haproxy,
    summary="HAProxy over its runtime API: a local socket, a TCP address, or a socket via SSH",
)
"""The entry point ``load_balancer.haproxy``."""
