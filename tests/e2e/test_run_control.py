"""apply / pause / status / resume / rollback as a person drives them, process by process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchwarden.store import open_store

CAMPAIGN = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-campaign.yaml"


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.mark.timeout(240)
def test_pause_resume_status_and_rollback(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    env = {**os.environ, "PATCHWARDEN_DB": db, "COLUMNS": "160"}
    # A slow simulated clock so the run is still going when we pause it.
    apply = subprocess.Popen(
        [sys.executable, "-m", "patchwarden", "apply", str(CAMPAIGN), "--speed", "150"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = ""
    deadline = time.monotonic() + 60
    while not run_id and time.monotonic() < deadline:
        time.sleep(0.2)
        with open_store(db) as store:
            run = store.latest_run()
            run_id = run.id if run else ""
    assert run_id, "the run never started"
    paused = _cli(env, "pause", run_id)
    assert f"run {run_id}: pausing" in paused.stdout
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, err

    status = json.loads(_cli(env, "status", "--format", "json").stdout)
    assert status["state"] == "paused" and not status["done"]
    assert status["units"]["pending"] > 0

    _cli(env, "resume", run_id, "--speed", "20000")
    status = json.loads(_cli(env, "status", run_id, "--format", "json").stdout)
    assert status["state"] == "completed" and status["done"]
    assert status["units"]["succeeded"] == sum(w["units"] for w in status["waves"])
    assert len(status["canary_analyses"]) == 3
    assert all(a["verdict"] == "pass" for a in status["canary_analyses"])

    rolled = _cli(env, "rollback", run_id)
    assert "rolling_back" in rolled.stdout
    status = json.loads(_cli(env, "status", run_id, "--format", "json").stdout)
    assert status["state"] == "rolled_back"
    assert status["units"]["rolled_back"] == status["units"]["rolled_back"] > 0
    assert status["failures"] == []
    assert status["units"]["succeeded"] == 0


def test_bad_requests_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}"}
    assert _cli(env, "pause", "nope", check=False).returncode == 2
    assert _cli(env, "status", check=False).returncode == 2
    assert _cli(env, "pause", check=False).returncode == 2  # missing argument
