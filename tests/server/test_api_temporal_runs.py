"""The server shows a run Temporal drives: its journal, and what only Temporal knows.

A real ``temporal server start-dev`` (the session's), real ``patchwarden worker`` processes
and a real ``patchwarden serve`` share one store. The run's hosts are all of site eu-1:
until a worker of eu-1 runs, nothing is journaled, and only Temporal can say that the
workflow runs and its steps wait on the eu-1 queue. ``GET /api/v1/runs/{id}`` (its
``temporal``) and the run's page say so. A pause and a resume asked of the server reach
the workflow as signals (its query says so) and the server drives nothing itself; once an
eu-1 worker has carried the run out, both say the workflow completed, each step done once.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from serve_harness import PASSWORD, Server, seed_users, start_server, stop_server

from patchwarden.store import open_store
from patchwarden.testing.temporal import TemporalDevServer, WorkerPool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

T = TypeVar("T")
ROOT = Path(__file__).parents[2]
CAMPAIGN = ROOT / "tests/data/temporal/small-campaign.yaml"
DEMO = ROOT / "src/patchwarden/drivers/sim/data/demo-inventory.yaml"
EU = "patchwarden-site-eu-1"


def _wait_for(found: Callable[[], T | None], seconds: float = 180.0) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not seen in {seconds} s")


@pytest.fixture
def setting(
    tmp_path: Path, temporal_server: TemporalDevServer
) -> Iterator[tuple[Server, WorkerPool, dict[str, str]]]:
    """A server and workers on one store and the session's Temporal; nothing running yet."""
    db = f"sqlite:///{tmp_path / 'store.db'}"
    tokens = seed_users(db)
    env = {
        **os.environ,
        "PATCHWARDEN_DB": db,
        "PATCHWARDEN_TEMPORAL_ADDRESS": temporal_server.address,
        "COLUMNS": "160",
    }
    process, url = start_server(db, tmp_path / "server.log")
    workers = WorkerPool(env, tmp_path)
    try:
        yield Server(url, db, tokens, tmp_path / "server.log"), workers, env
    finally:
        workers.stop()
        stop_server(process)


def _eu_inventory(tmp_path: Path, env: dict[str, str]) -> Path:
    demo = yaml.safe_load(DEMO.read_text())
    for asset in demo["assets"]:
        asset.setdefault("tags", {})["site"] = "eu-1"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(demo))
    imported = subprocess.run(
        [sys.executable, "-m", "patchwarden", "feeds", "import", str(DEMO.parent / "advisories")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    return inventory


def _run_page(server: Server, run_id: str) -> str:
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as c:
        match = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert match is not None
        r = c.post("/login", data={"user": "vera", "password": PASSWORD, "csrf_token": match[1]})
        assert r.status_code == 303
        page = c.get(f"/runs/{run_id}")
        assert page.status_code == 200
        return page.text


def test_the_server_shows_steps_waiting_on_a_sites_queue_then_the_workflow_completed(
    tmp_path: Path, setting: tuple[Server, WorkerPool, dict[str, str]]
) -> None:
    server, workers, env = setting
    inventory = _eu_inventory(tmp_path, env)
    workers.start()  # the workflows and the journal's bookkeeping, no step of eu-1
    started = subprocess.run(
        [sys.executable, "-m", "patchwarden", "apply", str(CAMPAIGN), "--engine", "temporal",
         "--no-wait", "--inventory", str(inventory), "--speed", "20000"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    with open_store(server.db) as store:
        run = store.latest_run()
        assert run is not None

        with server.client("vera") as vera:

            def waiting_on_eu() -> dict[str, Any] | None:
                body: dict[str, Any] = vera.get(f"/api/v1/runs/{run.id}").json()
                seen = body["temporal"]
                queued = [p for p in seen["pending"] if p["queue"] == EU]
                return body if seen["not_started"] and queued else None

            body = _wait_for(waiting_on_eu)
            seen = body["temporal"]
            assert body["state"] == "running"
            assert seen["workflow_id"] == f"patchwarden-run-{run.id}"
            assert seen["execution"] == "running" and seen["answered"], seen
            assert set(seen["not_started"]) <= set(seen["handed_out"])
            assert {(p["activity"], p["state"]) for p in seen["pending"] if p["queue"] == EU} == {
                ("patchwarden.run_step", "scheduled")
            }
            # The journal cannot say it: no step has started anywhere.
            assert store.events(run.id) == []
            assert all(not w["in_flight"] for w in body["waves"])
            page = _run_page(server, run.id)
            assert '<strong id="workflow-execution">running</strong>' in page
            assert f"not started by any worker yet: {seen['not_started'][0]}" in page
            assert f"<td>{EU}</td><td>scheduled</td>" in page

            # A person pauses and resumes it through the server: both reach the workflow
            # as signals, and the server never drives the run beside it.
            with server.client("otto") as otto:
                paused = otto.post(f"/api/v1/runs/{run.id}/pause").json()
                assert (paused["workflow"], paused["driving"]) == ("signalled", False), paused
                asked = vera.get(f"/api/v1/runs/{run.id}").json()["temporal"]
                assert asked["control"] == "pause", asked
                resumed = otto.post(f"/api/v1/runs/{run.id}/resume").json()
                assert (resumed["workflow"], resumed["driving"]) == ("signalled", False), resumed
                asked = vera.get(f"/api/v1/runs/{run.id}").json()["temporal"]
                assert asked["control"] == "" and asked["execution"] == "running", asked

            workers.start("--site", "eu-1")

            def ended() -> dict[str, Any] | None:
                body: dict[str, Any] = vera.get(f"/api/v1/runs/{run.id}").json()
                return body if body["temporal"]["execution"] == "completed" else None

            body = _wait_for(ended)
            assert body["state"] == "completed"
            ended_steps = [e.step_id for e in store.events(run.id) if e.event == "succeeded"]
            assert len(ended_steps) == len(set(ended_steps)), "a step was carried out twice"
            assert body["temporal"]["pending"] == [] and body["temporal"]["not_started"] == []
            assert '<strong id="workflow-execution">completed</strong>' in _run_page(server, run.id)
