"""The SSH transport against real OpenSSH servers: strict host keys, pooling, limits."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from patchwarden.drivers.ssh import SshTransport
from patchwarden.errors import DriverError, TransientDriverError
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread


def _transport(lab: Lab, **overrides: object) -> SshTransport:
    return SshTransport({s.id: lab.connection(s) for s in lab.specs()}, lab.ssh_config(**overrides))


def test_known_host_runs_an_argument_vector_without_shell_expansion(
    lab: Lab, loop: LoopThread
) -> None:
    ssh = _transport(lab)
    try:
        result = loop.run(ssh.run("lab-01", ["echo", "a  b", "$HOME", "; true"]))
        assert (result.exit_status, result.stdout) == (0, "a  b $HOME ; true\n")
        env = loop.run(ssh.run("lab-01", ["env"], env={"PW_PROBE": "x y;z"}))
        assert "PW_PROBE=x y;z" in env.stdout.splitlines()
        failed = loop.run(ssh.run("lab-01", ["false"]))
        assert failed.exit_status == 1 and not failed.ok
    finally:
        loop.run(ssh.close())


def test_unknown_host_key_is_refused(lab: Lab, loop: LoopThread, tmp_path: Path) -> None:
    # known_hosts that lists lab-01's address with lab-02's key: exactly a changed host key.
    lines = lab.known_hosts.read_text().splitlines()
    lab_02_key = lines[1].split(" ", 1)[1]
    impostor = tmp_path / "known_hosts"
    impostor.write_text(f"{lines[0].split()[0]} {lab_02_key}\n")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    for known in (impostor, empty):
        ssh = _transport(lab, known_hosts=known)
        with pytest.raises(DriverError, match="not trusted") as caught:
            loop.run(ssh.run("lab-01", ["true"]))
        assert not isinstance(caught.value, TransientDriverError), "never retried into success"
        assert ssh.connections_opened["lab-01"] == 0
        loop.run(ssh.close())


def test_a_key_the_host_does_not_know_is_refused(
    lab: Lab, loop: LoopThread, tmp_path: Path
) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ssh = _transport(lab, client_keys=(key,))
    with pytest.raises(DriverError, match="refused our keys"):
        loop.run(ssh.run("lab-01", ["true"]))
    loop.run(ssh.close())


def test_one_pooled_connection_per_host_for_many_commands(lab: Lab, loop: LoopThread) -> None:
    ssh = _transport(lab)
    hosts = [s.id for s in lab.specs()]

    async def many() -> list[str]:
        import asyncio

        results = await asyncio.gather(
            *(ssh.run(h, ["cat", "/etc/hostname"]) for h in hosts for _ in range(15))
        )
        return [r.stdout.strip() for r in results]

    try:
        names = loop.run(many())
        assert sorted(set(names)) == hosts
        loop.run(many())
        assert dict(ssh.connections_opened) == {h: 1 for h in hosts}
    finally:
        loop.run(ssh.close())


def test_fan_out_is_bounded(lab: Lab, loop: LoopThread) -> None:
    ssh = _transport(lab, max_parallel=2)

    async def six_sleeps() -> None:
        import asyncio

        hosts = [s.id for s in lab.specs()]
        await asyncio.gather(*(ssh.run(hosts[i % 4], ["sleep", "0.3"]) for i in range(6)))

    try:
        started = time.monotonic()
        loop.run(six_sleeps())
        assert time.monotonic() - started >= 0.85, "six 0.3 s commands, two at a time"
    finally:
        loop.run(ssh.close())


def test_command_timeout_is_transient_and_the_connection_survives(
    lab: Lab, loop: LoopThread
) -> None:
    ssh = _transport(lab)
    try:
        started = time.monotonic()
        with pytest.raises(TransientDriverError, match="timed out"):
            loop.run(ssh.run("lab-03", ["sleep", "30"], timeout_s=0.5))
        assert time.monotonic() - started < 5
        assert loop.run(ssh.run("lab-03", ["true"])).ok
        assert ssh.connections_opened["lab-03"] == 1
    finally:
        loop.run(ssh.close())


def test_agent_auth_without_key_files(
    lab: Lab, loop: LoopThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(lab.key_path)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        ssh = _transport(lab, client_keys=(), use_agent=True)
        try:
            assert loop.run(ssh.run("lab-01", ["true"])).ok
        finally:
            loop.run(ssh.close())
    finally:
        agent.terminate()
        agent.wait(10)
