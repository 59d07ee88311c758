"""Through the command line on the simulated estate: a run soaks, shows it, is killed, resumes.

The simulated clock runs ``--speed`` times faster than the wall, so a one-day soak at speed
200 lasts minutes (long enough to look at and to kill) and at speed 1e7 a few milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from patchwarden.store import open_store

CAMPAIGN = """\
name: live gates
scope_env: [qa, prod]
groups:
  hosts: {select: {kind: vm}, strategy: rolling, max_unavailable: 2}
promotion: {order: [qa, prod], soak: {qa: 1d}, require_rescan: true}
windows:
  prod-night: {cron: '0 2 * * *', duration: 4h, cutoff: 1h, timezone: UTC, env: [prod]}
rate: {max_concurrency: 10, max_errors: 2}
rollback: auto
"""


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _status(env: dict[str, str], run_id: str = "") -> dict[str, Any]:
    args = ["status", run_id] if run_id else ["status"]
    done = _cli(env, *args, "--format", "json")
    return json.loads(done.stdout) if done.returncode == 0 else {}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_soaking_run_says_so_survives_kill_9_and_resumes_to_the_same_instant(
    tmp_path: Path,
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    env = {**os.environ, "PATCHWARDEN_DB": db, "COLUMNS": "200"}
    apply = subprocess.Popen(
        [sys.executable, "-m", "patchwarden", "apply", str(campaign), "--speed", "200"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = _status(env)
            if (status.get("waiting_for") or {}).get("kind") == "soak":
                break
            assert apply.poll() is None, apply.communicate()
            time.sleep(0.3)
        waiting = status["waiting_for"]
        assert waiting["reason"].startswith("soaking qa until ") and waiting["reason"].endswith(
            "(1d)"
        )
        until = datetime.fromisoformat(waiting["until"])
        run_id = status["run"]
        assert status["state"] == "running"
        # The table says the same to a person.
        table = _cli(env, "status", run_id)
        assert "soaking qa until" in table.stdout
        # One runner per run: a second process is refused while the first holds the lease.
        second = _cli(env, "resume", run_id)
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"run {run_id} is being driven by" in second.stderr
    finally:
        apply.send_signal(signal.SIGKILL)
        apply.communicate(timeout=30)
    # kill -9 mid-soak; the lease of the dead process is taken over at once.
    resumed = _cli(env, "resume", run_id, "--speed", "1e7")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = _status(env, run_id)
    assert final["state"] == "completed" and final["waiting_for"] is None
    assert [(g["env"], g["result"]) for g in final["gates"]] == [("prod", "succeeded")]
    with open_store(db) as store:
        events = store.events(run_id)
    soaks = [e for e in events if e.step_id == "soak/qa"]
    assert len(soaks) == 1, "the resumed run waited on the journaled soak, not a new one"
    gate = next(e for e in events if e.step_id == "gate/prod" and e.event == "started")
    assert gate.at == until  # the same instant, though the resume came a sim-day earlier
    prod = [e for e in events if e.step_id.startswith("prod.") and e.event == "started"]
    first = min(e.at for e in prod)
    # prod starts inside prod-night (02:00-06:00 UTC, no new unit after 05:00), after the
    # soak and its gate; when the soak ended outside the window, exactly at its next opening.
    assert first >= until and 2 <= first.hour < 5
    if not 2 <= until.hour < 5:
        opening = until.replace(hour=2, minute=0, second=0, microsecond=0)
        assert first == (opening if opening > until else opening + timedelta(days=1))
    # Idempotent resume: no qa step was started twice (the kill came between its steps).
    qa_starts = [e.step_id for e in events if e.step_id.startswith("qa.") and e.event == "started"]
    assert len(qa_starts) == len(set(qa_starts))
    # A supervisor that always resumes: success, said so.
    again = _cli(env, "resume", run_id)
    assert again.returncode == 0 and "has already ended (completed)" in again.stdout
