"""Per-request traffic samples for canary analysis, from HAProxy's own request log.

HAProxy logs every request it forwards (``option httplog``): which backend and server
served it, the server's response time and the status. Sent over syslog (UDP) to
:class:`HaproxyLogMetrics`, those lines are exactly what a canary analysis needs: one
sample per request, per server, as the load balancer saw it; not an average over the last
1,024 requests (``show stat``'s ``rtime``) and not the client's view, which cannot tell which
server answered. In ``haproxy.cfg``::

    global
        log 127.0.0.1:5514 len 4096 local0 info
    defaults
        log global
        option httplog

A request is a failure when it got no answer or a 5xx; its latency is the server's
response time (``Tr``), or the whole request's (``Ta``) when the server never answered.

In a real run (``apply --real``), the inventory says where that log arrives, per pool of
the load balancer (``driver_config: {pools: {web: {metrics: {log: 127.0.0.1:5514}}}}``);
a :class:`LogListener` thread of the running process receives it from the first canary
analysis on (:meth:`HaproxyLogMetrics.watch`), so an analysis only ever judges requests
it saw itself.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from patchwarden.drivers.haproxy_config import HaproxyConfig
from patchwarden.drivers.protocols import RequestSample
from patchwarden.errors import DriverError

__all__ = [
    "HaproxyLog",
    "HaproxyLogMetrics",
    "LogListener",
    "LoggedRequest",
    "log_listener",
    "parse_httplog",
]

_HTTPLOG = re.compile(
    r"\[[^\]]+\] (?P<frontend>\S+) (?P<backend>[^\s/]+)/(?P<server>\S+) "
    r"(?P<TR>-?\d+)/(?P<Tw>-?\d+)/(?P<Tc>-?\d+)/(?P<Tr>-?\d+)/\+?(?P<Ta>-?\d+) "
    r"(?P<status>-?\d+) \+?\d+ \S+ \S+ (?P<termination>\S{4}) "
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request of HAProxy's HTTP log."""

    backend: str
    server: str
    status: int
    latency_ms: float
    termination: str

    @property
    def ok(self) -> bool:
        """Answered, and not with a server error."""
        return 100 <= self.status < 500


def parse_httplog(line: str) -> LoggedRequest | None:
    """Read one ``option httplog`` line (syslog header or not); ``None`` if it is not one.

    Example:
        >>> parse_httplog(
        ...     '<134>Mar  3 10:00:00 haproxy[7]: 127.0.0.1:5000 [03/Mar/2026:10:00:00.123] '
        ...     'fe web/lab-01 0/0/1/31/32 200 150 - - ---- 5/5/3/1/0 0/0 "GET / HTTP/1.1"'
        ... )
        LoggedRequest(backend='web', server='lab-01', status=200, latency_ms=31.0, \
termination='----')
    """
    match = _HTTPLOG.search(line)
    if match is None:
        return None
    server_time, total = int(match["Tr"]), int(match["Ta"])
    return LoggedRequest(
        backend=match["backend"],
        server=match["server"],
        status=int(match["status"]),
        latency_ms=float(server_time if server_time >= 0 else max(total, 0)),
        termination=match["termination"],
    )


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, feed: Callable[[bytes], None]) -> None:
        self.feed = feed

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.feed(data)


class HaproxyLog:
    """HAProxy's request log received over syslog (UDP), kept per backend and server.

    Example (inside a running event loop)::

        log = HaproxyLog()
        port = await log.start("127.0.0.1", 5514)
        metrics = HaproxyLogMetrics(log, config)
        samples = await metrics.samples("web", "web-01", 60)
        log.close()
    """

    def __init__(self, keep_s: float = 3600.0) -> None:
        self.keep_s = keep_s
        self.lines = 0
        self.unparsed = 0
        self._log: dict[tuple[str, str], deque[tuple[float, RequestSample]]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        # A listener thread feeds while the engine's loop reads.
        self._lock = threading.Lock()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for HAProxy's log on UDP ``host:port``; returns the port (0 picks one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self.feed), local_addr=(host, port)
        )
        self._transport = transport
        sock = transport.get_extra_info("socket")
        # Bursts of log lines must not be dropped while the event loop is busy elsewhere.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        bound: tuple[str, int] = sock.getsockname()
        return bound[1]

    def close(self) -> None:
        """Stop listening."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def feed(self, data: bytes, at: float | None = None) -> None:
        """Take one syslog datagram (one request's line)."""
        self.lines += 1
        request = parse_httplog(data.decode(errors="replace"))
        if request is None:
            self.unparsed += 1
            return
        now = time.monotonic() if at is None else at
        with self._lock:
            log = self._log.setdefault((request.backend, request.server), deque())
            log.append((now, RequestSample(ok=request.ok, latency_ms=request.latency_ms)))
            while log and log[0][0] < now - self.keep_s:
                log.popleft()

    def since(self, backend: str, server: str, seconds: float) -> list[RequestSample]:
        """Requests ``backend/server`` answered in the last ``seconds``."""
        cutoff = time.monotonic() - seconds
        with self._lock:
            return [s for at, s in self._log.get((backend, server), ()) if at >= cutoff]


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class LogListener:
    """HAProxy's request log received on a UDP address by a thread of this process.

    A thread rather than the event loop's datagram endpoint: the engine's loop may end and
    a new one start (a run that is resumed in the same process), and the log must go on.
    Nothing is bound before :meth:`start`; starting twice is starting once.

    Example::

        listener = LogListener("127.0.0.1:5514")
        listener.start()          # DriverError if the address is taken
        listener.log.since("web", "web-01", 10)
        listener.close()
    """

    def __init__(self, address: str, log: HaproxyLog | None = None) -> None:
        self.address = address
        self.log = log or HaproxyLog()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def listening(self) -> bool:
        """Whether the thread receives."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind the address and receive in a daemon thread (once).

        Raises:
            DriverError: The address cannot be bound (taken, or not this machine's).
        """
        with self._lock:
            if self.listening:
                return
            host, port = _split_address(self.address)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
                sock.bind((host, port))
            except OSError as error:
                sock.close()
                raise DriverError(
                    f"cannot receive HAProxy's log on {self.address}: {error.strerror}"
                ) from None
            sock.settimeout(0.2)
            self._stop.clear()
            self._sock = sock
            self._thread = threading.Thread(
                target=self._receive, name=f"haproxy-log {self.address}", daemon=True
            )
            self._thread.start()

    def _receive(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.log.feed(data)

    def close(self) -> None:
        """Stop the thread and free the address."""
        with self._lock:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(2)
                self._thread = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None


_LISTENERS: dict[str, LogListener] = {}
_LISTENERS_LOCK = threading.Lock()


def log_listener(address: str) -> LogListener:
    """The one listener of this process for ``address`` (an address is bound once)."""
    with _LISTENERS_LOCK:
        return _LISTENERS.setdefault(address, LogListener(address))


class HaproxyLogMetrics:
    """:class:`~patchwarden.drivers.protocols.TrafficMetrics` of one load balancer's pools.

    Args:
        log: Where the requests are kept.
        config: The load balancer's pools (member → backend).
        listener: What fills ``log`` in a real run, started by :meth:`watch`; ``None`` when
            the caller feeds ``log`` itself (the traffic lab's harness).
        pools: The pools this source measures (``None``: every pool of ``config``).
    """

    def __init__(
        self,
        log: HaproxyLog,
        config: HaproxyConfig,
        listener: LogListener | None = None,
        pools: frozenset[str] | None = None,
    ) -> None:
        self.log = log
        self.config = config
        self.listener = listener
        self.pools = frozenset(config.pools) if pools is None else pools

    async def watch(self) -> None:
        """Receive HAProxy's log from now on (the listener's thread starts once)."""
        if self.listener is not None:
            self.listener.start()

    def close(self) -> None:
        """Stop receiving the log and free its address (a later :meth:`watch` binds again)."""
        if self.listener is not None:
            self.listener.close()

    async def samples(self, pool: str, member: str, seconds: float) -> list[RequestSample]:
        """Requests the member's server answered in the last ``seconds``."""
        settings = self.config.pools.get(pool)
        if settings is None or member not in settings.members:
            raise DriverError(f"{self.config.lb_id}: {member!r} is not in pool {pool!r}")
        if pool not in self.pools:
            raise DriverError(
                f"{self.config.lb_id}: pool {pool!r} names no request log "
                "(driver_config.pools.<pool>.metrics)"
            )
        return self.log.since(settings.members[member], member, seconds)
