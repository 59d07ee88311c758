"""Steps go to the workers of their site; a worker killed mid-step is replaced and nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from patchwarden.store import open_store
from patchwarden.testing.temporal import WorkerPool

# A run here waits on a Temporal server and worker processes: on a loaded 2-core machine a
# whole test (workers' start, a missed heartbeat, the run, workers' stop) takes minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DATA = Path(__file__).parents[1] / "data/temporal"
DEMO = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-inventory.yaml"


def _apply(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", "apply", str(DATA / "small-campaign.yaml"),
         "--engine", "temporal", "--no-wait", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _wait_for(condition: Callable[[], bool], seconds: float = 180.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_steps_run_only_on_the_workers_of_their_site(
    tmp_path: Path, temporal_env: dict[str, str], workers: WorkerPool
) -> None:
    demo = yaml.safe_load(DEMO.read_text())
    for asset in demo["assets"]:
        asset.setdefault("tags", {})["site"] = "eu-1"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(demo))

    # Inventory files given: the plan matches them against the imported catalog.
    imported = subprocess.run(
        [sys.executable, "-m", "patchwarden", "feeds", "import", str(DEMO.parent / "advisories")],
        env=temporal_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr

    workers.start("--site", "us-1")  # serves the workflows, but no step of eu-1
    started = _apply(temporal_env, "--inventory", str(inventory), "--speed", "20000")
    assert started.returncode == 0, started.stderr
    with open_store(temporal_env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None
        time.sleep(5)
        assert store.events(run.id) == []  # every step waits on the eu-1 queue

        workers.start("--site", "eu-1")
        # Units whose target is no asset (a blue-green switch of a load balancer's pool)
        # have no site: they go to the default queue, which a worker without a site serves.
        workers.start()

        def completed() -> bool:
            found = store.get_run(run.id)
            return found is not None and found.state == "completed"

        assert _wait_for(completed), "the workers never finished the run"
        finished = {e.step_id for e in store.events(run.id) if e.event == "succeeded"}
        assert len(finished) == 25 + 3  # every step of the plan, and its 3 promotion gates


def test_a_worker_killed_mid_step_is_replaced_and_the_run_completes(
    temporal_env: dict[str, str], workers: WorkerPool
) -> None:
    first = workers.start()
    started = _apply(temporal_env, "--speed", "200")
    assert started.returncode == 0, started.stderr
    with open_store(temporal_env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None

        def in_a_step() -> bool:
            events = store.events(run.id)
            ended = {e.step_id for e in events if e.event in ("succeeded", "failed")}
            return any(e.event == "started" and e.step_id not in ended for e in events)

        assert _wait_for(in_a_step), "no step started"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        cut = store.events(run.id)
        workers.start()

        def completed() -> bool:
            found = store.get_run(run.id)
            return found is not None and found.state == "completed"

        # The killed worker's step is retried once its heartbeat is missed (20 s).
        assert _wait_for(completed, 600), (
            "the run did not complete on the new worker: "
            f"{store.get_run(run.id)}, last events {store.events(run.id)[-5:]}, "
            f"worker logs: {workers.tails()}"
        )
        events = store.events(run.id)
        assert events[: len(cut)] == cut  # the journal only grew
        ended = [e for e in events if e.event in ("succeeded", "failed")]
        assert all(e.event == "succeeded" for e in ended)
        # Every step ended exactly once; the one cut off was started again and ended once.
        assert len({e.step_id for e in ended}) == len(ended)
        restarted = [
            s for s in {e.step_id for e in events}
            if sum(1 for e in events if e.step_id == s and e.event == "started") > 1
        ]  # fmt: skip
        assert restarted, "the kill came between steps; no step was cut off"
