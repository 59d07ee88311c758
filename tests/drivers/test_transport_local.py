"""The local transport and the health checks that need no lab: real processes and sockets.

What every transport must do (argv verbatim, failures as results, 127, env, timeouts) is
the transport conformance suite's, in test_conformance_transport.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from patchwarden.domain.assets import HealthCheck
from patchwarden.drivers.health import CheckRunner, http_get
from patchwarden.drivers.real import HostRouter, RealClock
from patchwarden.drivers.ssh import SshConfig
from patchwarden.drivers.transport import LocalTransport, command_vector
from patchwarden.errors import DriverError
from patchwarden.testing.lab_session import LoopThread


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def test_command_vector_puts_sudo_and_env_in_front() -> None:
    assert command_vector(["true"]) == ["true"]
    assert command_vector(["true"], sudo=True) == ["sudo", "-n", "true"]
    with pytest.raises(DriverError):
        command_vector(["true"], {"BAD NAME": "x"})
    with pytest.raises(DriverError):
        command_vector([])


def test_router_refuses_hosts_without_a_connection(loop: LoopThread) -> None:
    router = HostRouter({}, {"local": LocalTransport()})
    with pytest.raises(DriverError, match="no connection"):
        loop.run(router.run("ghost", ["true"]))


def test_ssh_config_defaults_are_strict() -> None:
    config = SshConfig.from_env({})
    assert not config.insecure_accept_any_host_key
    assert config.known_hosts is None  # the user's known_hosts, still checked


async def _serve(status: int, body: str) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        data = body.encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


def test_http_and_tcp_checks_against_a_real_socket(loop: LoopThread) -> None:
    server = loop.run(_serve(200, "ok v2"))
    port = server.sockets[0].getsockname()[1]
    try:
        assert loop.run(http_get(f"http://127.0.0.1:{port}/healthz", 5)) == (200, "ok v2")
        checks = {
            "good": (
                HealthCheck(type="http", target=f"http://127.0.0.1:{port}/", expect_body="ok"),
                HealthCheck(type="tcp", target=f"127.0.0.1:{port}"),
            ),
            "bad": (
                HealthCheck(type="http", target=f"http://127.0.0.1:{port}/", expect_status=204),
            ),
            "cmd": (HealthCheck(type="command", target="sh -c 'exit 4'"),),
            "templated": (HealthCheck(type="tcp", target=f"{{host}}:{port}"),),
        }
        runner = CheckRunner(checks, HostRouter({}, {}), {"templated": "127.0.0.1"})
        assert loop.run(runner.check("templated")).ok
        assert loop.run(runner.check("good")).ok
        bad = loop.run(runner.check("bad"))
        assert not bad.ok and "-> 200 (want 204)" in bad.detail
        assert not loop.run(runner.check("cmd")).ok, "a host without a connection fails its command"
        assert loop.run(runner.check("unlisted")).ok
    finally:
        server.close()


def test_real_clock_is_aware_utc() -> None:
    assert RealClock().now().tzinfo is not None
