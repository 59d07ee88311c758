"""`patchwarden apply --real` and `resume` on the lab, each a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.store import open_store
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_plan import lab_rolling_plan
from patchwarden.testing.lab_session import LoopThread

HOSTS = ["lab-01", "lab-02", "lab-03", "lab-04"]


def _env(lab: Lab, tmp_path: Path) -> dict[str, str]:
    return lab.cli_env(f"sqlite:///{tmp_path / 'pw.db'}")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _status(env: dict[str, str], run_id: str) -> dict[str, object]:
    done = _cli(env, "status", run_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    status: dict[str, object] = json.loads(done.stdout)
    return status


@pytest.mark.timeout(120)
def test_apply_real_patches_every_host_and_records_the_inventory(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None], tmp_path: Path
) -> None:
    reset(*HOSTS)
    plan = tmp_path / "plan.json"
    plan.write_text(lab_rolling_plan(HOSTS, reboot={"lab-02"}).model_dump_json())
    env = _env(lab, tmp_path)
    boot_before = loop.run(real.power.boot_id("lab-02"))
    done = _cli(env, "apply", str(plan), "--inventory", str(lab.inventory_path), "--real")
    assert done.returncode == 0, done.stderr + done.stdout
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
    assert run is not None and run.summary is not None
    assert run.summary["real"] == {"inventory": [str(lab.inventory_path)]}
    status = _status(env, run.id)
    assert status["state"] == "completed"
    for host in HOSTS:
        assert loop.run(real.packages.installed(host, ["pw-web"])) == {"pw-web": "1.0-2"}
    assert loop.run(real.packages.installed("lab-02", ["pw-kernel"])) == {"pw-kernel": "1.0-2"}
    assert loop.run(real.power.boot_id("lab-02")) != boot_before
    reset(*HOSTS)


@pytest.mark.timeout(120)
def test_a_paused_real_run_resumes_on_the_same_hosts(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None], tmp_path: Path
) -> None:
    reset(*HOSTS)
    plan = tmp_path / "plan.json"
    # One host per batch, with reboots, so the run is still going when the pause lands.
    plan.write_text(lab_rolling_plan(HOSTS, reboot=set(HOSTS), batch_size=1).model_dump_json())
    env = _env(lab, tmp_path)
    argv = ["apply", str(plan), "--inventory", str(lab.inventory_path), "--real"]
    apply = subprocess.Popen(
        [sys.executable, "-m", "patchwarden", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = ""
    deadline = time.monotonic() + 60
    while not run_id and time.monotonic() < deadline:
        time.sleep(0.1)
        with open_store(env["PATCHWARDEN_DB"]) as store:
            run = store.latest_run()
            run_id = run.id if run is not None and store.events(run.id) else ""
    assert run_id, "the run never started"
    assert _cli(env, "pause", run_id).returncode == 0
    _, err = apply.communicate(timeout=60)
    assert apply.returncode == 0, err
    paused = _status(env, run_id)
    assert paused["state"] == "paused" and not paused["done"]

    resumed = _cli(env, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    status = _status(env, run_id)
    assert status["state"] == "completed"
    units = status["units"]
    assert isinstance(units, dict) and units["succeeded"] == sum(units.values()) == 4
    for host in HOSTS:
        assert loop.run(real.packages.installed(host, ["pw-web", "pw-kernel"])) == {
            "pw-web": "1.0-2",
            "pw-kernel": "1.0-2",
        }
    reset(*HOSTS)


def test_real_without_an_inventory_is_a_usage_error(lab: Lab, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(lab_rolling_plan(HOSTS).model_dump_json())
    done = _cli(_env(lab, tmp_path), "apply", str(plan), "--real")
    assert done.returncode == 2
    assert "--inventory" in done.stderr
