"""MockTransport: the public stand-in for a transport, for testing facts without a host."""

from __future__ import annotations

import asyncio
import doctest

import pytest

import patchwarden.testing.mock_transport as mock_transport_module
from patchwarden.drivers.apk import ApkDriver
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError, TransientDriverError
from patchwarden.testing import Command, MockTransport, Reply


def test_the_docstring_example_runs() -> None:
    failed, tried = doctest.testmod(mock_transport_module)
    assert tried > 0 and failed == 0


def test_it_is_a_transport_and_records_what_it_was_asked() -> None:
    transport = MockTransport(lambda command: Reply("ok\n"))
    assert isinstance(transport, Transport)
    result = asyncio.run(
        transport.run("h1", ["dpkg-query", "-W"], env={"LC_ALL": "C"}, timeout_s=5)
    )
    assert result == CommandResult("h1", ("dpkg-query", "-W"), 0, "ok\n", "")
    (command,) = transport.commands
    assert command == Command("h1", ("dpkg-query", "-W"), {"LC_ALL": "C"}, 5)
    with pytest.raises(TypeError):
        command.env["LC_ALL"] = "changed"  # type: ignore[index]  # the record is read-only


def test_a_handler_may_answer_with_a_full_result() -> None:
    canned = CommandResult("elsewhere", ("x",), 3, "", "boom")
    result = asyncio.run(MockTransport(lambda command: canned).run("h1", ["x"]))
    assert result is canned
    with pytest.raises(DriverError, match="exited 3: boom"):
        result.check()


def test_it_refuses_what_every_transport_refuses() -> None:
    transport = MockTransport(lambda command: Reply())
    with pytest.raises(DriverError, match="empty command"):
        asyncio.run(transport.run("h1", []))
    with pytest.raises(DriverError, match="invalid environment variable name"):
        asyncio.run(transport.run("h1", ["true"], env={"A=B": "x"}))
    assert transport.commands == [], "a refused command never reaches the handler"


def test_a_slow_async_handler_times_out_like_a_real_host() -> None:
    async def hangs(command: Command) -> Reply:
        await asyncio.sleep(3600)
        return Reply()

    transport = MockTransport(hangs)
    with pytest.raises(TransientDriverError, match="h1: sleep timed out after 0.05 s"):
        asyncio.run(transport.run("h1", ["sleep", "9"], timeout_s=0.05))


def test_it_counts_commands_in_flight() -> None:
    async def slow(command: Command) -> Reply:
        await asyncio.sleep(0.01)
        return Reply()

    transport = MockTransport(slow)

    async def three_at_once() -> None:
        await asyncio.gather(*(transport.run(f"h{n}", ["true"]) for n in range(3)))
        await transport.disconnect("h1")
        await transport.close()

    asyncio.run(three_at_once())
    assert transport.most_in_flight == 3
    assert (transport.disconnected, transport.closed) == (["h1"], True)


def test_a_fact_reads_recorded_output_through_it() -> None:
    def alpine(command: Command) -> Reply:
        if command.argv == ("apk", "info", "-v"):
            return Reply("musl-1.2.4_git20230717-r4\nbusybox-1.36.1-r15\n")
        return Reply(exit_status=127)

    packages = asyncio.run(ApkDriver(MockTransport(alpine)).installed("a1", ["musl", "zlib"]))
    assert packages == {"musl": "1.2.4_git20230717-r4"}
