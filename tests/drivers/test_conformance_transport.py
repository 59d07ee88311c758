"""The local transport and MockTransport against the transport conformance suite.

SSH runs the same suite against the lab's real OpenSSH servers (test_conformance_lab).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import TransportConformance

from patchwarden.drivers.transport import LocalTransport
from patchwarden.testing import Command, MockTransport, Reply
from patchwarden.testing.lab_session import LoopThread


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


class TestLocalTransport(TransportConformance):
    timeout_slack_s = 4.0  # a local process is killed at once; only a loaded machine is slow

    @pytest.fixture
    def run(self, loop: LoopThread) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return loop.run(coro, 60)

        return run_one

    @pytest.fixture
    def transport(self) -> LocalTransport:
        return LocalTransport()

    @pytest.fixture
    def transport_host(self) -> str:
        return "here"


async def _tiny_host(command: Command) -> Reply:
    """The few programs the suite runs, answered as a POSIX host would answer them."""
    match command.argv:
        case ("echo", *words):
            return Reply(" ".join(words) + "\n")
        case ("printf", "%s|", *words):
            return Reply("".join(f"{w}|" for w in words))
        case ("sh", "-c", "echo oops >&2; exit 3"):
            return Reply(stderr="oops\n", exit_status=3)
        case ("printenv", name):
            return Reply(f"{command.env[name]}\n") if name in command.env else Reply(exit_status=1)
        case ("sleep", seconds):
            await asyncio.sleep(float(seconds))
            return Reply()
        case ("cat",) | ("true",):
            return Reply()
    return Reply(stderr=f"{command.argv[0]}: not found\n", exit_status=127)


class TestMockTransport(TransportConformance):
    """A handler that answers like a host makes a MockTransport pass the same contract."""

    @pytest.fixture
    def run(self, loop: LoopThread) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return loop.run(coro, 60)

        return run_one

    @pytest.fixture
    def transport(self) -> MockTransport:
        return MockTransport(_tiny_host)

    @pytest.fixture
    def transport_host(self) -> str:
        return "mock-01"
