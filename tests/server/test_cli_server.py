"""The command line against a real server (``--server``, token from PATCHWARDEN_TOKEN):
findings, a change submitted by one user and approved by another, its run followed to the
end, status; identities are the tokens' users, never a typed name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_harness import Server, quick_campaign

from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # the session's server assesses the demo estate first


def cli(server: Server, user: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """``patchwarden ARGS --server URL`` as ``user`` (its token), with no local database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWARDEN_")}
    env["PATCHWARDEN_DB"] = "sqlite:////nonexistent/never-opened.db"  # proves no local work
    if user is not None:
        env["PATCHWARDEN_TOKEN"] = server.tokens[user]
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args, "--server", server.url],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_findings_from_the_server(estate: Server) -> None:
    done = cli(estate, "vera", "findings", "--env", "prod", "--format", "json", "--per-page", "5")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert 0 < len(rows) <= 5 and {r["env"] for r in rows} == {"prod"}
    csv = cli(estate, "vera", "findings", "--severity", "critical", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("asset_id,env,package")
    # No token: told what to set, exit 2.
    done = cli(estate, None, "findings")
    assert done.returncode == 2 and "PATCHWARDEN_TOKEN" in done.stderr


def test_submit_approve_apply_and_status_as_the_tokens_users(
    estate: Server, tmp_path: Path
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(quick_campaign("cli-remote"))
    done = cli(estate, "carol", "change", "submit", str(campaign), "--title", "from the cli")
    assert done.returncode == 0, done.stderr
    assert "submitted" in done.stdout and "other than carol" in done.stdout
    label = done.stdout.split()[0]  # CHG-n
    cid = label.removeprefix("CHG-")
    # A typed name means nothing against a server.
    done = cli(estate, "bob", "change", "approve", cid, "--as", "somebody")
    assert done.returncode == 2 and "--as with --server" in done.stderr
    # carol's own token cannot approve her change.
    done = cli(estate, "carol", "change", "approve", cid)
    assert done.returncode == 2 and "four eyes" in done.stderr
    done = cli(estate, "bob", "change", "approve", cid, "--comment", "ok from the cli")
    assert done.returncode == 0, done.stderr
    assert f"{label} approved by bob" in done.stdout
    shown = cli(estate, "vera", "change", "show", cid, "--format", "json")
    assert json.loads(shown.stdout)["state"] == "approved"
    # A viewer may not run it; an operator does, and the command follows it to its end.
    assert cli(estate, "vera", "apply", "--change", cid).returncode == 2
    done = cli(estate, "otto", "apply", "--change", cid)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    run_id = lines[0].split()[1]
    assert lines[-1] == f"run {run_id}: completed"
    assert any(line.startswith("running: ") for line in lines)
    status = cli(estate, "vera", "status", run_id, "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "completed"
    with open_store(estate.db) as store:
        trail = store.audit.entries(AuditFilter(object_type="change", object_id=cid))
        run = store.audit.entries(AuditFilter(object_type="run", object_id=run_id))
    assert [(e.actor, e.action) for e in trail][:2] == [
        ("carol", "change.submit"),
        ("bob", "change.approve"),
    ]
    assert run[0].actor == "otto" and run[0].action == "run.start"


def test_a_token_never_crosses_the_network_in_clear(estate: Server) -> None:
    env = {**os.environ, "PATCHWARDEN_TOKEN": estate.tokens["vera"]}
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "findings", "--server", "http://192.0.2.1:8080"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "in clear" in done.stderr


def test_resume_a_paused_run_on_the_server_and_follow_it(estate: Server, tmp_path: Path) -> None:
    import time

    with estate.client("carol") as carol:
        cid = carol.post("/api/v1/changes", json={"campaign": quick_campaign("cli-resume")}).json()[
            "id"
        ]
    with estate.client("bob") as bob:
        plan_hash = bob.get(f"/api/v1/changes/{cid}").json()["plan_hash"]
        r = bob.post(f"/api/v1/changes/{cid}/approve", json={"plan_hash": plan_hash})
        assert r.status_code == 200, r.text
    with estate.client("otto") as otto:
        # Slowly (20x), so it is still running when paused.
        run_id = otto.post("/api/v1/runs", json={"change": cid, "speed": 20}).json()["id"]
        assert otto.post(f"/api/v1/runs/{run_id}/pause").status_code == 200
        deadline = time.monotonic() + 180
        while otto.get(f"/api/v1/runs/{run_id}").json()["state"] != "paused":
            assert time.monotonic() < deadline, "the run did not pause"
            time.sleep(0.3)
    assert cli(estate, "vera", "resume", run_id).returncode == 2, "a viewer may not resume"
    done = cli(estate, "otto", "resume", run_id)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == f"run {run_id}: resumed on the server" and lines[-1].endswith("completed")
    again = cli(estate, "otto", "resume", run_id)
    assert again.returncode == 0 and "has already ended (completed)" in again.stdout
    with open_store(estate.db) as store:
        trail = store.audit.entries(AuditFilter(object_type="run", object_id=run_id))
    assert ("otto", "run.resume") in [(e.actor, e.action) for e in trail]
