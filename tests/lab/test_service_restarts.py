"""A library update leaves a running daemon on the old code: the patch step restarts it, or
reports it, as the campaign says.

On two lab hosts ``pw-daemon`` (a real ELF program, started by the lab's service manager
in its own ``pw-daemon.service`` cgroup) runs linked against ``libpwlib1 1.0-1``. An OSV
record fixed in ``1.0-2`` makes the default policy patch it. ``apply --real`` upgrades the
library on both: the daemon still maps the deleted old ``libpwlib.so.1``, which the real
``needrestart -b`` inside each host finds. On lab-01 (``restart_services: restart``) the
step restarts the daemon and ``needrestart`` then finds nothing; on lab-02 (the default,
``report``) the daemon keeps running on the old library and ``status`` says so. Everything
goes through the command line, as processes of their own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.drivers.restarts import NEEDRESTART, parse_needrestart
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread

RESTARTING, REPORTING = "lab-01", "lab-02"
UNIT = "pw-daemon.service"
OLD, FIXED = "1.0-1", "1.0-2"

RECORD = {
    "schema_version": "1.6.0",
    "id": "PWLAB-2026-0016",
    "summary": "libpwlib - security update",
    "modified": "2026-12-01T08:00:00Z",
    "published": "2026-12-01T00:00:00Z",
    # Rated critical, so the default policy patches it in the next run.
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "libpwlib1"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": FIXED}]}],
        }
    ],
}

CAMPAIGN = f"""\
name: restarts
groups:
  restarting:
    select: {{ids: [{RESTARTING}]}}
    strategy: rolling
    restart_services: restart
  reporting:
    select: {{ids: [{REPORTING}]}}
    strategy: rolling
"""


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _daemon_pid(lab: Lab, host: str, timeout_s: float = 20.0) -> int:
    """The running daemon's pid, as the lab's service manager recorded it."""
    active = lab.host(host).root / "run" / "lab-systemd" / "active" / UNIT
    deadline = time.monotonic() + timeout_s
    while not active.exists():
        assert time.monotonic() < deadline, f"{UNIT} did not start on {host}"
        time.sleep(0.1)
    return int(active.read_text())


def _outdated(real: RealDrivers, loop: LoopThread, host: str) -> tuple[str, ...]:
    result = loop.run(real.transport.run(host, NEEDRESTART))
    needs = parse_needrestart(result.exit_status, result.stdout)
    assert needs is not None, f"needrestart missing on {host}: {result.stderr}"
    return needs.services


@pytest.fixture
def daemons(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> Iterator[None]:
    """pw-daemon running on the old library on both hosts; purged again afterwards."""
    hosts = (RESTARTING, REPORTING)
    reset(*hosts)
    for host in hosts:
        loop.run(real.packages.install(host, {"libpwlib1": OLD, "pw-daemon": "1.0-1"}))
    try:
        yield
    finally:
        for host in hosts:
            purge = loop.run(
                real.transport.run(host, ["dpkg", "--purge", "pw-daemon", "libpwlib1"])
            )
            assert purge.ok, purge.stderr


@pytest.mark.timeout(420)
def test_a_library_update_restarts_or_reports_the_daemon_that_uses_it(
    lab: Lab, real: RealDrivers, loop: LoopThread, daemons: None, tmp_path: Path
) -> None:
    env = lab.cli_env(f"sqlite:///{tmp_path / 'pw.db'}", COLUMNS="200")
    before = {h: _daemon_pid(lab, h) for h in (RESTARTING, REPORTING)}
    for host in before:
        # The daemon runs, in its unit's cgroup, and nothing is outdated yet: the check
        # below is not one that always answers yes.
        assert f"system.slice/{UNIT}" in Path(f"/proc/{before[host]}/cgroup").read_text()
        assert UNIT not in _outdated(real, loop, host), host

    record, campaign = tmp_path / "record.json", tmp_path / "campaign.yaml"
    record.write_text(json.dumps(RECORD))
    campaign.write_text(CAMPAIGN)
    inventory = str(lab.inventory_path)
    # The assessment before the campaign: the report compares it with the one after, and
    # shows the run that happened between the two.
    for argv in (
        ["feeds", "import", str(record)],
        ["scan", "-i", inventory],
        ["assess", "-i", inventory],
    ):
        done = _cli(env, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    applied = _cli(env, "apply", str(campaign), "-i", inventory, "--real")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    for host in (RESTARTING, REPORTING):
        assert loop.run(real.packages.installed(host, ["libpwlib1"])) == {"libpwlib1": FIXED}
    # Restarted: a new process, on the new library; needrestart has nothing left to say.
    assert _daemon_pid(lab, RESTARTING) != before[RESTARTING]
    assert UNIT not in _outdated(real, loop, RESTARTING)
    # Reported only: the same process, still on the deleted old library.
    assert _daemon_pid(lab, REPORTING) == before[REPORTING]
    assert UNIT in _outdated(real, loop, REPORTING)
    maps = Path(f"/proc/{before[REPORTING]}/maps").read_text()
    assert "libpwlib.so.1 (deleted)" in maps

    shown = _cli(env, "status", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    restarts = {r["target"]: r for r in json.loads(shown.stdout)["service_restarts"]}
    assert restarts[RESTARTING]["restarted"] == [UNIT]
    assert restarts[RESTARTING]["still_needed"] == []
    assert restarts[REPORTING]["restarted"] == []
    assert restarts[REPORTING]["still_needed"] == [UNIT]
    table = _cli(env, "status")
    assert table.returncode == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert f"restarted on {RESTARTING}: {UNIT}" in text
    assert f"still needs a restart on {REPORTING}: {UNIT}" in text

    for argv in (["scan", "-i", inventory], ["assess", "-i", inventory]):
        done = _cli(env, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    report = tmp_path / "report.json"
    done = _cli(env, "report", "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {
        a["asset_id"]: [s["detail"] for s in a["steps"] if s["action"] == "patch"]
        for a in json.loads(report.read_text())["assets"]
    }
    assert steps[RESTARTING] == [f"changed: libpwlib1; restarted: {UNIT}"]
    assert steps[REPORTING] == [f"changed: libpwlib1; still needs a restart: {UNIT}"]
