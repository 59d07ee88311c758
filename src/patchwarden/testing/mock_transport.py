r"""A transport that runs nothing: a handler answers each command, as httpx's MockTransport.

Facts and drivers take a :class:`~patchwarden.drivers.transport.Transport`; give them a
:class:`MockTransport` to test their plumbing with recorded output and no host at all.
The handler gets each :class:`Command` and returns a :class:`Reply` (or a full
:class:`~patchwarden.drivers.transport.CommandResult`); it may be ``async`` to stand for a
slow or hanging host. The mock keeps the parts of the transport contract that need no
program: an empty vector or a bad variable name is refused, a command past its
``timeout_s`` raises :class:`~patchwarden.errors.TransientDriverError`.

Example:
    >>> import asyncio
    >>> from patchwarden.testing import MockTransport, Reply
    >>> def handler(command):
    ...     if command.argv == ("uname", "-m"):
    ...         return Reply("x86_64\n")
    ...     return Reply(exit_status=127)  # what a shell says of a missing program
    >>> transport = MockTransport(handler)
    >>> result = asyncio.run(transport.run("web-01", ["uname", "-m"]))
    >>> (result.host, result.exit_status, result.stdout)
    ('web-01', 0, 'x86_64\n')
    >>> asyncio.run(transport.run("web-01", ["rpm", "-qa"])).exit_status
    127
    >>> [c.argv for c in transport.commands]
    [('uname', '-m'), ('rpm', '-qa')]
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from patchwarden.drivers.transport import CommandResult, check_env_names
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["Command", "Handler", "MockTransport", "Reply"]


@dataclass(frozen=True)
class Command:
    """One command as a transport was asked to run it."""

    host: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timeout_s: float | None = None


@dataclass(frozen=True)
class Reply:
    """What the handler says the command did; the mock adds the host and the vector."""

    stdout: str = ""
    exit_status: int = 0
    stderr: str = ""


Handler = Callable[[Command], "Reply | CommandResult | Awaitable[Reply | CommandResult]"]
"""Answers one command, synchronously or as a coroutine."""


class MockTransport:
    """A :class:`~patchwarden.drivers.transport.Transport` whose answers come from ``handler``.

    Attributes:
        commands: Every command run, in the order they were started.
        disconnected: Hosts :meth:`disconnect` was called for, in order.
        closed: Whether :meth:`close` was called.
        most_in_flight: The most commands that were running at once.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.commands: list[Command] = []
        self.disconnected: list[str] = []
        self.closed = False
        self.most_in_flight = 0
        self._in_flight = 0

    async def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Record the command and return the handler's answer to it.

        Raises:
            DriverError: ``argv`` is empty or ``env`` names a variable no shell could set.
            TransientDriverError: an ``async`` handler took longer than ``timeout_s``.
        """
        if not argv:
            raise DriverError("empty command")
        check_env_names(env or {})
        command = Command(host, tuple(argv), MappingProxyType(dict(env or {})), timeout_s)
        self.commands.append(command)
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            answer = self.handler(command)
            if inspect.isawaitable(answer):
                try:
                    answer = await asyncio.wait_for(answer, timeout_s)
                except TimeoutError:
                    raise TransientDriverError(
                        f"{host}: {argv[0]} timed out after {timeout_s:g} s"
                    ) from None
        finally:
            self._in_flight -= 1
        if isinstance(answer, CommandResult):
            return answer
        return CommandResult(host, command.argv, answer.exit_status, answer.stdout, answer.stderr)

    async def disconnect(self, host: str) -> None:
        """Note that the host's connection was dropped."""
        self.disconnected.append(host)

    async def close(self) -> None:
        """Note that every connection was closed."""
        self.closed = True
