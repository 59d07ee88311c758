r"""Running commands on hosts: the one interface every fact and action goes through.

A command is always an argument vector, never a shell string built from data. Transports
that must hand a remote shell a string (SSH) quote each argument with :func:`shlex.quote`.
Environment variables travel as ``env NAME=value`` in front of the vector when they cannot
be passed natively, so ``DEBIAN_FRONTEND=noninteractive`` works over SSH and under sudo alike.

Example:
    >>> import asyncio
    >>> result = asyncio.run(LocalTransport().run("localhost", ["echo", "hi"]))
    >>> (result.exit_status, result.stdout)
    (0, 'hi\n')
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from patchwarden.errors import DriverError, TransientDriverError

__all__ = [
    "WRITE_FILE_ARGV",
    "CommandResult",
    "FileWriter",
    "LocalTransport",
    "Transport",
    "UnixSocketForwarder",
    "check_env_names",
    "command_vector",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Enough of a failing command's stderr to say why, without flooding logs or journals.
_TAIL_CHARS = 2000


@dataclass(frozen=True)
class CommandResult:
    """What a command did on a host."""

    host: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.exit_status == 0

    def check(self) -> CommandResult:
        """Return self if the command succeeded, else raise DriverError naming it."""
        if not self.ok:
            raise DriverError(
                f"{self.host}: {' '.join(self.argv[:4])}... exited {self.exit_status}: "
                f"{self.stderr.strip()[-_TAIL_CHARS:] or self.stdout.strip()[-_TAIL_CHARS:]}"
            )
        return self


@runtime_checkable
class Transport(Protocol):
    """Runs argument vectors on hosts, by the host's inventory id."""

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` on ``host`` and return its result, whatever its exit status.

        Raises:
            TransientDriverError: the host could not be reached or the command timed out.
        """
        ...

    async def disconnect(self, host: str) -> None:
        """Forget any open connection to ``host`` (it is rebooting, say)."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


@runtime_checkable
class FileWriter(Protocol):
    """A transport that can write a file on a host from bytes it holds (SSH and local can)."""

    async def write_file(
        self, host: str, path: str, data: bytes, *, timeout_s: float | None = None
    ) -> None:
        """Write ``data`` to ``path`` on ``host`` (replacing it).

        Raises:
            DriverError: the host refused the write.
            TransientDriverError: the host could not be reached, or it timed out.
        """
        ...


WRITE_FILE_ARGV: tuple[str, ...] = ("sh", "-c", 'exec cat > "$1"', "write-file")
"""The command that writes its standard input to the path given after it: the shell text
is fixed, and the path is an argument of its own, never part of the text."""


@runtime_checkable
class UnixSocketForwarder(Protocol):
    """A transport that can open a stream to a unix socket on a host (SSH can)."""

    async def open_unix_connection(self, host: str, path: str) -> tuple[Any, Any]:
        """``(reader, writer)`` of a stream to ``path`` on ``host``."""
        ...


def command_vector(
    argv: Sequence[str], env: Mapping[str, str] | None = None, sudo: bool = False
) -> list[str]:
    """The full vector to run: ``sudo -n`` and ``env NAME=value`` in front when needed.

    Example:
        >>> command_vector(["apt-get", "install"], {"DEBIAN_FRONTEND": "noninteractive"}, True)
        ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install']
    """
    if not argv:
        raise DriverError("empty command")
    vector = list(argv)
    if env:
        check_env_names(env)
        vector = ["env", *(f"{k}={v}" for k, v in env.items()), *vector]
    if sudo:
        # -n: never prompt for a password; a patch run has nobody to type it.
        vector = ["sudo", "-n", *vector]
    return vector


def check_env_names(env: Mapping[str, str]) -> None:
    """Refuse a variable name a shell or ``env`` would read as something else.

    Example:
        >>> check_env_names({"A=B; rm -rf /": "x"})
        Traceback (most recent call last):
        ...
        patchwarden.errors.DriverError: invalid environment variable name 'A=B; rm -rf /'
    """
    for name in env:
        if not _ENV_NAME.match(name):
            raise DriverError(f"invalid environment variable name {name!r}")


class LocalTransport:
    """Runs commands on this machine with :mod:`asyncio` subprocesses, no shell."""

    def __init__(self, sudo: bool = False, default_timeout_s: float = 600.0) -> None:
        self.sudo = sudo
        self.default_timeout_s = default_timeout_s

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` here; ``host`` only labels the result."""
        vector = command_vector(argv, env if self.sudo else None, self.sudo)
        if env and not self.sudo:
            check_env_names(env)  # as every transport does, though exec alone would take most
        child_env = None if self.sudo or not env else {**os.environ, **env}
        try:
            process = await asyncio.create_subprocess_exec(
                *vector,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=child_env,
            )
        except OSError as error:
            return CommandResult(host, tuple(argv), 127, "", str(error))
        limit = timeout_s if timeout_s is not None else self.default_timeout_s
        try:
            out, err = await asyncio.wait_for(process.communicate(), limit)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TransientDriverError(f"{host}: {argv[0]} timed out after {limit:.0f} s") from None
        return CommandResult(
            host,
            tuple(argv),
            process.returncode if process.returncode is not None else -1,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
        )

    async def write_file(
        self, host: str, path: str, data: bytes, *, timeout_s: float | None = None
    ) -> None:
        """Write ``data`` to ``path`` here (as root through ``sudo -n`` when configured)."""
        vector = command_vector([*WRITE_FILE_ARGV, path], None, self.sudo)
        process = await asyncio.create_subprocess_exec(
            *vector,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        limit = timeout_s if timeout_s is not None else self.default_timeout_s
        try:
            _, err = await asyncio.wait_for(process.communicate(data), limit)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TransientDriverError(f"{host}: writing {path} timed out") from None
        if process.returncode != 0:
            raise DriverError(f"{host}: cannot write {path}: {err.decode(errors='replace')}")

    async def disconnect(self, host: str) -> None:
        """Nothing to forget: every command is its own process."""

    async def close(self) -> None:
        """Nothing to close."""
