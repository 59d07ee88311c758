"""Runs through the API against a real server: start an approved change, follow it live
as server-sent events (resumable with Last-Event-ID), pause, resume, roll back."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from serve_harness import CAMPAIGN, Server, quick_campaign

from patchwarden.service.audit import verify_trail
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # a campaign is planned, approved and run on the server


def approved_change(server: Server, name: str) -> int:
    """Submit the windows campaign under ``name`` as carol; bob approves it."""
    campaign = quick_campaign(name)
    with server.client("carol") as carol, server.client("bob") as bob:
        r = carol.post("/api/v1/changes", json={"campaign": campaign})
        assert r.status_code == 201, r.text
        change = r.json()
        r = bob.post(
            f"/api/v1/changes/{change['id']}/approve", json={"plan_hash": change["plan_hash"]}
        )
        assert r.status_code == 200, r.text
    return int(change["id"])


def read_events(
    client: httpx.Client, run_id: str, headers: dict[str, str] | None = None
) -> list[tuple[str | None, str, Any]]:
    """Every SSE event of the run's stream until it closes: (id, event, data)."""
    out: list[tuple[str | None, str, Any]] = []
    with client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers or {}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line == "":
                if "event" in fields:
                    out.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value
    return out


def wait_state(client: httpx.Client, run_id: str, states: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = str(client.get(f"/api/v1/runs/{run_id}").json()["state"])
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {states}")


def test_an_approved_change_runs_and_streams_its_journal(estate: Server) -> None:
    cid = approved_change(estate, "api-run")
    with estate.client("otto") as otto, estate.client("vera") as vera:
        r = otto.post("/api/v1/runs", json={"change": cid, "mode": "sim"})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        events = read_events(vera, run_id)
        journal = [(i, d) for i, kind, d in events if kind == "journal"]
        assert [int(i or 0) for i, _ in journal] == list(range(1, len(journal) + 1))
        assert {d["event"] for _, d in journal} >= {"started", "succeeded"}
        statuses = [d for _, kind, d in events if kind == "status"]
        assert statuses[-1]["state"] == "completed" and statuses[-1]["done"]
        assert events[-1][1] == "end" and events[-1][2]["state"] == "completed"
        # The journal is what the store holds, in order, nothing lost, nothing repeated.
        with open_store(estate.db) as store:
            stored = store.events(run_id)
        assert [(e.seq, e.step_id, e.event) for e in stored] == [
            (d["seq"], d["step"], d["event"]) for _, d in journal
        ]
        # Reconnecting with Last-Event-ID carries on after it.
        middle = len(journal) // 2
        rest = read_events(vera, run_id, {"Last-Event-ID": str(middle)})
        assert [int(i or 0) for i, kind, _ in rest if kind == "journal"] == list(
            range(middle + 1, len(journal) + 1)
        )
        assert vera.get(f"/api/v1/runs/{run_id}").json()["state"] == "completed"
        assert vera.get("/api/v1/runs/nope/events").status_code == 404
    with open_store(estate.db) as store:
        trail = store.audit.entries(AuditFilter(object_type="run", object_id=run_id))
        assert [(e.actor, e.action) for e in trail][:1] == [("otto", "run.start")]
        assert trail[0].source.startswith("api 127.0.0.1 (token ")
        assert trail[-1].action == "run.finish" and trail[-1].details["state"] == "completed"
        change = store.get_change(cid)
        assert change is not None and change.state.value == "approved"  # sim leaves it
        verify_trail(store)


def test_only_an_approved_change_runs_and_real_runs_need_the_servers_inventory(
    estate: Server,
) -> None:
    campaign = CAMPAIGN.read_text().replace("name: 2026-11 security (windows)", "name: unapproved")
    with estate.client("otto") as otto, estate.client("vera") as vera:
        r = otto.post("/api/v1/changes", json={"campaign": campaign})
        pending = r.json()["id"]
        r = otto.post("/api/v1/runs", json={"change": pending})
        assert r.status_code == 409 and "only an approved change runs" in r.json()["detail"]
        assert otto.post("/api/v1/runs", json={"change": 9999}).status_code == 404
        assert vera.post("/api/v1/runs", json={"change": pending}).status_code == 403
        cid = approved_change(estate, "api-real")
        r = otto.post("/api/v1/runs", json={"change": cid, "mode": "real"})
        assert r.status_code == 400 and "serve --inventory" in r.json()["detail"]


def test_pause_resume_and_rollback_through_the_api(estate: Server) -> None:
    cid = approved_change(estate, "api-pause")
    with estate.client("otto") as otto:
        # A slow clock, so the run is still going when the pause arrives.
        r = otto.post("/api/v1/runs", json={"change": cid, "speed": 20})
        run_id = r.json()["id"]
        r = otto.post(f"/api/v1/runs/{run_id}/pause")
        assert r.status_code == 200, r.text
        assert wait_state(otto, run_id, {"paused", "completed"}) == "paused"
        assert otto.post(f"/api/v1/runs/{run_id}/resume").json()["driving"] is True
        assert wait_state(otto, run_id, {"completed", "failed"}) == "completed"
        r = otto.post(f"/api/v1/runs/{run_id}/rollback")
        assert r.status_code == 200 and r.json()["driving"] is True
        assert wait_state(otto, run_id, {"rolled_back", "failed"}) == "rolled_back"
    with open_store(estate.db) as store:
        actions = [
            (e.actor, e.action)
            for e in store.audit.entries(AuditFilter(object_type="run", object_id=run_id))
        ]
    assert ("otto", "run.pause") in actions and ("otto", "run.resume") in actions
    assert ("otto", "run.rollback") in actions and actions[-1] == ("engine", "run.finish")
