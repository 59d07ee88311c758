"""A throwaway PostgreSQL server for tests: ``initdb`` in a temporary folder, loopback only.

Built from Debian's ``postgresql`` package, whose programs live in
``/usr/lib/postgresql/<major>/bin`` (not on ``PATH``). PostgreSQL refuses to run as root, so
when the tests run as root the server runs as the ``postgres`` user the package creates, and
its folder is handed to that user. The server listens on ``127.0.0.1`` only, on a port
chosen free, with no Unix socket, and trusts loopback callers: it holds nothing but test
data and is stopped (and its folder deleted) when the tests end.

Example (needs the package, so not a doctest)::

    with PostgresServer.started() as server:
        url = server.create_database("t1")   # postgresql+psycopg://postgres@127.0.0.1:P/t1
        ...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import LiteralString

__all__ = ["PostgresServer", "find_pg_bin"]

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_SERVER_USER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's newest major, else ``PATH``."""
    majors = sorted(
        (p for p in _DEBIAN_ROOT.glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if majors:
        return majors[-1]
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in its own data folder; start, stop, kill and restart it.

    Args:
        bin_dir: Where ``initdb`` and ``pg_ctl`` are (see :func:`find_pg_bin`).
        port: The loopback port; a free one if not given.
    """

    def __init__(self, bin_dir: Path, port: int | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.root = Path(tempfile.mkdtemp(prefix="patchwarden-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = _SERVER_USER
            entry = pwd.getpwnam(_SERVER_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @classmethod
    @contextmanager
    def started(cls, bin_dir: Path | None = None) -> Iterator[PostgresServer]:
        """A new server, initialised and started; stopped and deleted on exit.

        Raises:
            RuntimeError: PostgreSQL is not installed, or it did not start (with its log).
        """
        found = bin_dir or find_pg_bin()
        if found is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package: postgresql)")
        server = cls(found)
        try:
            server.init()
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [str(self.bin_dir / argv[0]), *argv[1:]],
            user=self._user, capture_output=True, text=True, timeout=timeout, check=False,
            cwd=self.root,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def init(self) -> None:
        """``initdb`` the data folder: superuser ``postgres``, trust on loopback, UTF-8."""
        self._run(
            "initdb", "-D", str(self.data), "-U", _SERVER_USER, "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        settings = (
            f"listen_addresses = '{self.host}'\n"
            f"port = {self.port}\n"
            "unix_socket_directories = ''\n"
            # Test data only: an OS crash may lose it, a killed server does not (the page
            # cache keeps what it wrote), which is what the fault tests do.
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def start(self, attempts: int = 3) -> None:
        """Start the server and wait until it accepts connections."""
        for attempt in range(attempts):
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")
                return
            except RuntimeError:
                if attempt == attempts - 1 or "could not bind" not in self.log_tail():
                    raise
                self._move_port()

    def _move_port(self) -> None:
        """Another process took our port before the server bound it: pick another."""
        self.port = _free_port()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\n")

    def stop(self) -> None:
        """Stop the server (fast shutdown); nothing happens if it is not running."""
        if self.pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def pid(self) -> int | None:
        """The postmaster's process id, if it is running."""
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first)
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the postmaster, as a crash would, and wait for it to be gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.05)
        # The backends notice their postmaster died and exit by themselves; the next start
        # recovers from the write-ahead log, but refuses while one still holds the shared
        # memory: wait for them too (every server process works in the data folder).
        while time.monotonic() < deadline and self._processes_in_data():
            time.sleep(0.05)

    def _processes_in_data(self) -> list[int]:
        wanted = str(self.data.resolve())
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "cwd") == wanted:
                        found.append(int(entry.name))
        return found

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server, with psycopg 3."""
        return f"postgresql+psycopg://{_SERVER_USER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL.

        Raises:
            ValueError: ``name`` is not a plain lower-case SQL identifier.
        """
        self._admin("CREATE DATABASE {}", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection still open on it."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _admin(self, template: LiteralString, name: str) -> None:
        import psycopg  # deferred: the package is only needed where PostgreSQL is tested
        from psycopg import sql

        if not _NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_NAME.pattern}")
        statement = sql.SQL(template).format(sql.Identifier(name))
        conninfo = f"host={self.host} port={self.port} user={_SERVER_USER} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(statement)
