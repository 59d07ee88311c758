"""The SSH transport: one pooled asyncssh connection per host, strict host keys by default.

Safe by default: a host whose key is not in the known_hosts file is refused (turning that off
takes ``SshConfig(insecure_accept_any_host_key=True)``, and nothing else turns it off);
password prompts never happen (key or agent auth only; ``sudo -n``). Fan-out is bounded twice:
``max_parallel`` commands across all hosts, and ``max_sessions_per_host`` channels on one
connection (OpenSSH allows 10 by default).

Example:
    >>> from patchwarden.domain.assets import Connection
    >>> transport = SshTransport({"web-01": Connection(address="192.0.2.10")}, SshConfig())
    >>> transport.connections_opened["web-01"]
    0
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchwarden.domain.assets import Connection
from patchwarden.drivers.transport import WRITE_FILE_ARGV, CommandResult, command_vector
from patchwarden.errors import DriverError, TransientDriverError

if TYPE_CHECKING:  # asyncssh costs a third of a second to import: only SSH runs pay it
    import asyncssh

__all__ = ["SshConfig", "SshTransport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshConfig:
    """How patchwarden authenticates and how hard it pushes.

    Attributes:
        known_hosts: The known_hosts file to check host keys against; ``None`` means the
            user's ``~/.ssh/known_hosts``.
        client_keys: Private key files; empty means the agent and the user's default keys.
        use_agent: Offer keys held by the SSH agent (``SSH_AUTH_SOCK``).
        max_parallel: Commands in flight across all hosts at once.
        max_sessions_per_host: Commands in flight on one host's connection.
        connect_timeout_s: How long to wait for a connection and its handshake.
        command_timeout_s: Default limit of one command; callers may pass their own.
        keepalive_s: Keepalive interval, so a host that vanished is noticed.
        insecure_accept_any_host_key: Skip host-key checks. Never the default.
    """

    known_hosts: Path | None = None
    client_keys: tuple[Path, ...] = ()
    use_agent: bool = True
    max_parallel: int = 20
    max_sessions_per_host: int = 8
    connect_timeout_s: float = 15.0
    command_timeout_s: float = 600.0
    keepalive_s: float = 15.0
    insecure_accept_any_host_key: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SshConfig:
        """Read ``PATCHWARDEN_SSH_KNOWN_HOSTS`` and ``PATCHWARDEN_SSH_KEY`` (``:``-separated).

        Example:
            >>> SshConfig.from_env({"PATCHWARDEN_SSH_KEY": "/k1:/k2"}).client_keys
            (PosixPath('/k1'), PosixPath('/k2'))
        """
        env = os.environ if environ is None else environ
        known = env.get("PATCHWARDEN_SSH_KNOWN_HOSTS")
        keys = tuple(Path(k) for k in env.get("PATCHWARDEN_SSH_KEY", "").split(":") if k)
        return cls(known_hosts=Path(known) if known else None, client_keys=keys)


@dataclass
class _HostSlot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sessions: asyncio.Semaphore | None = None
    conn: asyncssh.SSHClientConnection | None = None


class SshTransport:
    """Runs argument vectors over SSH, reusing one connection per host."""

    def __init__(self, connections: Mapping[str, Connection], config: SshConfig) -> None:
        self.connections = dict(connections)
        self.config = config
        self._fan_out = asyncio.Semaphore(config.max_parallel)
        self._slots: dict[str, _HostSlot] = {}
        self.connections_opened: Counter[str] = Counter()

    def _connection_of(self, host: str) -> Connection:
        try:
            return self.connections[host]
        except KeyError:
            raise DriverError(f"ssh: no connection settings for host {host!r}") from None

    def _slot(self, host: str) -> _HostSlot:
        slot = self._slots.get(host)
        if slot is None:
            slot = _HostSlot(sessions=asyncio.Semaphore(self.config.max_sessions_per_host))
            self._slots[host] = slot
        return slot

    def _connect_options(self, target: Connection) -> dict[str, Any]:
        cfg = self.config
        options: dict[str, Any] = {
            "host": target.address,
            "port": target.port,
            "username": target.user,
            # The user's ~/.ssh/config would silently change what the inventory says.
            "config": None,
            "connect_timeout": cfg.connect_timeout_s,
            "keepalive_interval": cfg.keepalive_s,
        }
        if cfg.insecure_accept_any_host_key:
            options["known_hosts"] = None
        elif cfg.known_hosts is not None:
            options["known_hosts"] = str(cfg.known_hosts)
        if cfg.client_keys:
            options["client_keys"] = [str(k) for k in cfg.client_keys]
        if not cfg.use_agent:
            options["agent_path"] = None
        return options

    async def _connect(self, host: str) -> asyncssh.SSHClientConnection:
        import asyncssh  # noqa: PLC0415 - see the TYPE_CHECKING import above

        slot = self._slot(host)
        async with slot.lock:
            if slot.conn is not None and not slot.conn.is_closed():
                return slot.conn
            target = self._connection_of(host)
            where = f"{target.user}@{target.address}:{target.port}"
            try:
                slot.conn = await asyncssh.connect(**self._connect_options(target))
            except asyncssh.HostKeyNotVerifiable as error:
                known = self.config.known_hosts or "~/.ssh/known_hosts"
                raise DriverError(
                    f"{host}: host key of {where} is not trusted by {known} ({error.reason}); "
                    "refusing to connect. Check the key's fingerprint, then add it there."
                ) from None
            except asyncssh.PermissionDenied:
                raise DriverError(
                    f"{host}: {where} refused our keys (check client_keys or the agent)"
                ) from None
            except (OSError, asyncssh.Error, TimeoutError) as error:
                raise TransientDriverError(f"{host}: cannot connect to {where}: {error}") from None
            self.connections_opened[host] += 1
            log.debug("ssh: connected to %s (%s)", host, where)
            return slot.conn

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` on ``host`` over its pooled connection; see :class:`Transport`."""
        import asyncssh  # noqa: PLC0415 - see the TYPE_CHECKING import above

        target = self._connection_of(host)
        sudo = target.sudo and target.user != "root"
        # A remote shell receives one string: quote every argument, build nothing else.
        line = shlex.join(command_vector(argv, env, sudo))
        limit = timeout_s if timeout_s is not None else self.config.command_timeout_s
        slot = self._slot(host)
        assert slot.sessions is not None
        async with self._fan_out, slot.sessions:
            conn = await self._connect(host)
            log.debug("ssh: %s: running %s", host, argv[0])
            try:
                # stdin at EOF, as the local transport gives it: a command that reads its
                # input (a prompt, a bare `cat`) ends instead of waiting out the timeout.
                done = await conn.run(line, check=False, timeout=limit, stdin=asyncssh.DEVNULL)
            except asyncssh.TimeoutError:
                raise TransientDriverError(
                    f"{host}: {argv[0]} timed out after {limit:.0f} s"
                ) from None
            except (OSError, asyncssh.Error) as error:
                await self.disconnect(host)
                raise TransientDriverError(
                    f"{host}: connection lost running {argv[0]}: {error}"
                ) from None
        status = done.exit_status
        if status is None:  # killed by a signal, or the channel closed under it
            status = -1
        return CommandResult(host, tuple(argv), status, _text(done.stdout), _text(done.stderr))

    async def write_file(
        self, host: str, path: str, data: bytes, *, timeout_s: float | None = None
    ) -> None:
        """Write ``data`` to ``path`` on ``host``: the bytes go as the command's standard input.

        The command is fixed (:data:`~patchwarden.drivers.transport.WRITE_FILE_ARGV`); the
        path is one quoted argument. As root, or through ``sudo -n`` as the connection says.
        """
        import asyncssh  # noqa: PLC0415 - see the TYPE_CHECKING import above

        target = self._connection_of(host)
        sudo = target.sudo and target.user != "root"
        line = shlex.join(command_vector([*WRITE_FILE_ARGV, path], None, sudo))
        limit = timeout_s if timeout_s is not None else self.config.command_timeout_s
        slot = self._slot(host)
        assert slot.sessions is not None
        async with self._fan_out, slot.sessions:
            conn = await self._connect(host)
            try:
                done = await conn.run(line, check=False, timeout=limit, input=data, encoding=None)
            except asyncssh.TimeoutError:
                raise TransientDriverError(f"{host}: writing {path} timed out") from None
            except (OSError, asyncssh.Error) as error:
                await self.disconnect(host)
                raise TransientDriverError(
                    f"{host}: connection lost writing {path}: {error}"
                ) from None
        if done.exit_status != 0:
            raise DriverError(f"{host}: cannot write {path}: {_text(done.stderr)[-300:]}")

    async def open_unix_connection(self, host: str, path: str) -> tuple[Any, Any]:
        """A stream to the unix socket ``path`` on ``host``, through its pooled connection.

        OpenSSH's stream-local forwarding (``direct-streamlocal@openssh.com``): nothing runs
        on the host, and no port is opened. The host's sshd must allow it
        (``AllowStreamLocalForwarding``, on by default). The path is the one sshd itself
        sees: for a root login that is outside any ``ChrootDirectory`` of the session.

        Returns:
            ``(reader, writer)``, used like asyncio's streams (bytes in, bytes out).
        """
        import asyncssh  # noqa: PLC0415 - see the TYPE_CHECKING import above

        conn = await self._connect(host)
        try:
            return await conn.open_unix_connection(path, encoding=None)
        except asyncssh.ChannelOpenError as error:
            raise DriverError(f"{host}: cannot reach unix socket {path}: {error.reason}") from None
        except (OSError, asyncssh.Error) as error:
            await self.disconnect(host)
            raise TransientDriverError(f"{host}: connection lost: {error}") from None

    async def disconnect(self, host: str) -> None:
        """Close and forget ``host``'s connection; the next command reconnects."""
        slot = self._slots.get(host)
        if slot is None or slot.conn is None:
            return
        import asyncssh  # noqa: PLC0415 - see the TYPE_CHECKING import above

        conn, slot.conn = slot.conn, None
        conn.close()
        # The host may be gone or going: nothing to wait for then.
        with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
            await asyncio.wait_for(conn.wait_closed(), 5)

    async def close(self) -> None:
        """Close every pooled connection."""
        await asyncio.gather(*(self.disconnect(host) for host in list(self._slots)))


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
