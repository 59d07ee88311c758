"""A user's rolling update behind real HAProxy, through the command line only.

The inventory names the load balancer's driver (``driver: haproxy`` with its admin socket);
``patchwarden feeds import``, ``scan`` and ``apply campaign.yaml --real`` run as processes
of their own, as a person would run them, while 40 clients keep sending requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwarden.store import open_store
from patchwarden.testing.traffic import LB_ID, TrafficLab
from patchwarden.testing.traffic_load import LoadProcess

# Debian's OSV layout, rated critical so the policy patches now: pw-web fixed in 1.0-2, and
# pw-kernel fixed in 1.0-2 needing a reboot, so every server really goes away in turn.
CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def _dsa(number: int, package: str, **specific: Any) -> dict[str, Any]:
    return {
        "id": f"DSA-{number}-1",
        "summary": f"{package} - security update",
        "aliases": [f"CVE-2026-{number + 40000}"],
        "modified": "2026-11-20T08:14:11Z",
        "published": "2026-11-19T00:00:00Z",
        "severity": CRITICAL,
        "database_specific": specific,
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}
                ],
            }
        ],
    }


DSAS = [_dsa(9902, "pw-web"), _dsa(9903, "pw-kernel", reboot_required=True)]

CAMPAIGN = """\
name: web behind haproxy
groups:
  web: {select: {role: web}, strategy: rolling, max_unavailable: 1}
"""


def _inventory(traffic: TrafficLab, path: Path) -> None:
    """The lab's hosts as `lab up` wrote them, plus the HAProxy in front of them."""
    data: dict[str, Any] = yaml.safe_load(traffic.lab.inventory_path.read_text())
    data["assets"].append(
        {
            "id": LB_ID,
            "kind": "load_balancer",
            "env": traffic.lab.config.env,
            "driver": "haproxy",
            "driver_config": {"socket": str(traffic.setup.socket)},
            "pools": [{"name": "web", "members": traffic.hosts}],
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _prepared(traffic: TrafficLab, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """Lab reset, inventory and campaign written, advisories imported, hosts scanned."""
    traffic.reset()
    inventory, campaign = tmp_path / "inventory.yaml", tmp_path / "campaign.yaml"
    dsa = tmp_path / "dsa.json"
    _inventory(traffic, inventory)
    campaign.write_text(CAMPAIGN)
    dsa.write_text(json.dumps(DSAS))
    env = {
        **os.environ,
        "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}",
        "PATCHWARDEN_SSH_KEY": str(traffic.lab.key_path),
        "PATCHWARDEN_SSH_KNOWN_HOSTS": str(traffic.lab.known_hosts),
        "COLUMNS": "160",
    }
    for argv in (["inventory", "validate", str(inventory)], ["feeds", "import", str(dsa)],
                 ["scan", "-i", str(inventory)]):  # fmt: skip
        done = _cli(env, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return env, inventory, campaign


def _all_patched_and_ready(traffic: TrafficLab) -> None:
    driver = traffic.driver()
    for host in traffic.hosts:
        installed = traffic.loop.run(traffic.real.packages.installed(host, ["pw-web", "pw-kernel"]))
        assert installed == {"pw-web": "1.0-2", "pw-kernel": "1.0-2"}, host
        assert traffic.loop.run(driver.state("web", host)) == "ready", f"{host} left drained"


@pytest.mark.timeout(420)
def test_apply_real_rolls_behind_haproxy_without_a_failed_request(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    env, inventory, campaign = _prepared(traffic, tmp_path)
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        applied = _cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=360)
    finally:
        report = load.stop()
    assert applied.returncode == 0, applied.stdout + applied.stderr

    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        events = [(e.event, e.step_id) for e in store.events(run.id)]
    steps = [step for event, step in events if event == "started" and step]
    for host in traffic.hosts:
        mine = [s.rsplit("-", 1)[-1] for s in steps if f"/{host}/" in s]
        assert mine and mine[0] == "drain" and mine[-1] == "enable", (host, steps)
        assert {"patch", "reboot", "health"} <= set(mine), (host, mine)
    _all_patched_and_ready(traffic)
    print(f"apply --real behind HAProxy: {report.requests} requests, {report.failed} failed")
    assert report.requests > 1000
    assert report.failed == 0, report.causes()
    traffic.reset()


@pytest.mark.timeout(420)
def test_resume_after_kill_9_drives_the_same_haproxy_and_leaves_nothing_drained(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    env, inventory, campaign = _prepared(traffic, tmp_path)
    second = traffic.hosts[1]
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        argv = ["apply", str(campaign), "-i", str(inventory), "--real"]
        apply = subprocess.Popen(
            [sys.executable, "-m", "patchwarden", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Killed while the second host is out of the pool: drained, being patched.
        run_id, deadline = "", time.monotonic() + 120
        while time.monotonic() < deadline and apply.poll() is None:
            with open_store(env["PATCHWARDEN_DB"]) as store:
                run = store.latest_run()
                done = {e.step_id for e in store.events(run.id)} if run is not None else set()
            if any(f"/{second}/" in s and s.endswith("-patch") for s in done):
                run_id = run.id if run is not None else ""
                break
            time.sleep(0.05)
        assert run_id, "the run never reached the second host"
        os.kill(apply.pid, signal.SIGKILL)
        apply.wait(10)
        assert traffic.loop.run(traffic.driver().state("web", second)) == "drain"

        resumed = _cli(env, "resume", run_id, timeout=360)
    finally:
        report = load.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.get_run(run_id)
        assert run is not None and run.state == "completed"
    _all_patched_and_ready(traffic)
    print(f"kill -9 and resume behind HAProxy: {report.requests} requests, {report.failed} failed")
    assert report.failed == 0, report.causes()
    traffic.reset()
