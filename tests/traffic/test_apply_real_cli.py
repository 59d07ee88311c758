"""A user's rolling update behind real HAProxy, through the command line only.

The inventory names the load balancer's driver (``driver: haproxy`` with its admin socket);
``patchwarden feeds import``, ``scan``, ``change submit``, ``change approve`` (a second
person), ``apply campaign.yaml --real`` and ``status`` run as processes of their own, as
people would run them, while 40 clients keep sending requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import cli, dsa, prepare

from patchwarden.store import open_store
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import apply_approved, run_status, submit_and_approve
from patchwarden.testing.traffic_load import LoadProcess

# pw-web fixed in 1.0-2, and pw-kernel fixed in 1.0-2 needing a reboot, so every server
# really goes away in turn.
DSAS = [dsa(9902, "pw-web"), dsa(9903, "pw-kernel", reboot_required=True)]

CAMPAIGN = """\
name: web behind haproxy
groups:
  web: {select: {role: web}, strategy: rolling, max_unavailable: 1}
"""


def _prepared(traffic: TrafficLab, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """Lab reset, inventory and campaign written, advisories imported, hosts scanned."""
    return prepare(traffic, tmp_path, CAMPAIGN, DSAS, metrics=False)


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
        applied = apply_approved(env, campaign, inventory, timeout=360)
    finally:
        report = load.stop()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert run_status(env)["state"] == "completed"

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
    submit_and_approve(env, campaign, inventory)
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

        resumed = cli(env, "resume", run_id, timeout=360)
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
