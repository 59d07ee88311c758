"""Campaigns on a real Temporal dev server, carried out by real ``patchwarden worker`` processes.

Every test here starts processes the way a person would: ``patchwarden worker`` and
``patchwarden apply --engine temporal`` as subprocesses, on the simulated estate, against the
session's ``temporal server start-dev`` (started by the ``temporal_server`` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from patchwarden.service.replay import load_plan
from patchwarden.store import open_store
from patchwarden.testing.temporal import WorkerPool

# A run here waits on a Temporal server and worker processes: on a loaded 2-core machine a
# whole test (workers' start, a missed heartbeat, the run, workers' stop) takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CAMPAIGN = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-campaign.yaml"
SPEED = "20000"


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


# Payload values that measure time or sampled traffic: the simulated estate's load
# generator and drain timing depend on how fast the host machine is, so two runs of the
# local runner already differ there. Everything else must be equal.
_MEASURED = {"waited_s", "metrics", "score"}


def _shape(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {k: _shape(v) for k, v in payload.items() if k not in _MEASURED}
    if isinstance(payload, list):
        return [_shape(v) for v in payload]
    return payload


def journal_by_step(db: str) -> tuple[str, dict[str, Any], dict[str, list[tuple[str, Any]]]]:
    """The run's state, unit counts, and each step's records in order (measured values out)."""
    with open_store(db) as store:
        run = store.latest_run()
        assert run is not None
        steps: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for event in store.events(run.id):
            steps[event.step_id].append((event.event, _shape(event.payload)))
        return run.state, (run.summary or {}).get("units", {}), dict(steps)


def test_local_runner_and_temporal_journal_the_same_run(
    tmp_path: Path, temporal_env: dict[str, str], workers: WorkerPool
) -> None:
    local_env = {**temporal_env, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'local.db'}"}
    local = cli(local_env, "apply", str(CAMPAIGN), "--speed", SPEED)
    assert local.returncode == 0, local.stderr

    workers.start("--speed", SPEED)
    on_temporal = cli(workers.env, "apply", str(CAMPAIGN), "--engine", "temporal", "--speed", SPEED)
    assert on_temporal.returncode == 0, on_temporal.stderr
    assert "is the workflow patchwarden-run-" in on_temporal.stdout

    local_state, local_units, local_steps = journal_by_step(local_env["PATCHWARDEN_DB"])
    state, units, steps = journal_by_step(workers.env["PATCHWARDEN_DB"])
    assert (state, units) == (local_state, local_units) == ("completed", local_units)
    assert sum(local_units.values()) > 40  # the whole demo estate, every strategy
    assert steps.keys() == local_steps.keys()
    different = [s for s in steps if steps[s] != local_steps[s]]
    assert different == []
    status = json.loads(cli(workers.env, "status", "--format", "json").stdout)
    assert status["state"] == "completed" and status["done"] is True


def _wait_for(condition: Any, seconds: float = 120.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    return condition()


def test_pause_and_resume_are_signals_and_the_workflow_waits_between(
    workers: WorkerPool,
) -> None:
    workers.start()
    started = cli(
        workers.env, "apply", str(CAMPAIGN), "--engine", "temporal", "--speed", "300",
        "--no-wait",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    db = workers.env["PATCHWARDEN_DB"]
    with open_store(db) as store:
        run = store.latest_run()
        assert run is not None
        run_id = run.id
        assert _wait_for(lambda: len(store.events(run_id)) >= 10), "no step ran"

        paused = cli(workers.env, "pause", run_id)
        assert paused.returncode == 0, paused.stderr
        assert "signalled its workflow" in paused.stdout

        def settled() -> bool:
            found = store.get_run(run_id)
            return found is not None and found.state == "paused"

        assert _wait_for(settled), "the workflow never settled the pause"
        held = len(store.events(run_id))
        time.sleep(3)  # at speed 300 that is 15 simulated minutes: nothing may start
        assert len(store.events(run_id)) == held

        resumed = cli(workers.env, "resume", run_id)
        assert resumed.returncode == 0, resumed.stderr

        def ended() -> bool:
            found = store.get_run(run_id)
            return found is not None and found.state == "completed"

        assert _wait_for(ended, 600), "the run did not complete after resume"
        assert len(store.events(run_id)) > held
        actions = [e.action for e in store.audit.entries() if e.object_id == run_id]
        assert actions[:1] == ["run.start"] and "run.pause" in actions
        assert "run.resume" in actions and actions[-1] == "run.finish"


def test_a_finished_run_rolls_back_on_temporal_in_a_new_workflow(workers: WorkerPool) -> None:
    workers.start("--speed", SPEED)
    small = Path(__file__).parents[1] / "data/temporal/small-campaign.yaml"
    done = cli(workers.env, "apply", str(small), "--engine", "temporal", "--speed", SPEED)
    assert done.returncode == 0, done.stderr
    db = workers.env["PATCHWARDEN_DB"]
    with open_store(db) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        run_id, succeeded = run.id, (run.summary or {})["units"]["succeeded"]
        before = len(store.events(run_id))

    rolled = cli(workers.env, "rollback", run_id)
    assert rolled.returncode == 0, rolled.stderr + rolled.stdout
    assert f"its workflow had ended; patchwarden-run-{run_id} rolled it back" in rolled.stdout
    with open_store(db) as store:
        run = store.get_run(run_id)
        assert run is not None and run.state == "rolled_back"
        assert (run.summary or {})["units"] == {"rolled_back": succeeded}
        events = store.events(run_id)
        undone = {e.step_id for e in events[before:] if e.event == "succeeded"}
        # Rollback steps ran, journaled after the run's own records, and nothing else.
        rollback = {s.id for u in load_plan(store, run).units() for s in u.rollback}
        assert undone and undone <= rollback, undone - rollback
        actions = [e.action for e in store.audit.entries() if e.object_id == run_id]
        assert actions[-2:] == ["run.rollback", "run.finish"]
