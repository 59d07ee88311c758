"""Plans through a real server: compile (validated as the CLI validates), show as JSON,
runbook text and Markdown, the same plan and runbook as ``patchwarden plan`` prints, and the
``--server`` client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_harness import CAMPAIGN, Server

from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # the session's server assesses the demo estate first

AT = "2026-11-20T09:00:00+00:00"

BAD_INVENTORY = """\
assets:
- {id: web-1, kind: vm, env: dev}
- {id: web-2, kind: vm, env: dev, memory_gb: lots}
"""


def local_plan(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``patchwarden plan ARGS`` on the server's own database, as a person on that machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWARDEN_")}
    env["PATCHWARDEN_DB"] = server.db
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", "plan", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def remote_plan(server: Server, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``patchwarden plan ARGS --server URL`` as ``user``, with no local database at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWARDEN_")}
    env["PATCHWARDEN_DB"] = "sqlite:////nonexistent/never-opened.db"
    env["PATCHWARDEN_TOKEN"] = server.tokens[user]
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", "plan", *args, "--server", server.url],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def plan_entries(server: Server) -> list[tuple[str, str, str]]:
    with open_store(server.db) as store:
        entries = store.audit.entries(AuditFilter(action="plan."))
    return [(e.actor, e.object_id, e.object_hash) for e in entries]


def test_compile_gives_the_clis_plan_and_runbook_and_show_serves_it_three_ways(
    estate: Server,
) -> None:
    local = local_plan(estate, str(CAMPAIGN), "--at", AT, "--format", "json")
    assert local.returncode == 0, local.stderr
    runbook = local_plan(estate, str(CAMPAIGN), "--at", AT)
    assert runbook.returncode == 0, runbook.stderr
    with estate.client("otto") as otto, estate.client("vera") as vera:
        r = otto.post("/api/v1/plans", json={"campaign": CAMPAIGN.read_text(), "at": AT})
        assert r.status_code == 201, r.text
        compiled = r.json()
        plan_hash = compiled["plan_hash"]
        assert compiled["plan"] == json.loads(local.stdout)
        assert compiled["runbook"] == runbook.stdout
        assert compiled["inventory"] == "stored" and compiled["environments"] == [
            "dev", "prod", "qa", "staging",
        ]  # fmt: skip
        assert plan_hash[:12] in compiled["runbook"].splitlines()[0]
        # Shown again by its hash, to a viewer: the plan, the runbook, the runbook in Markdown.
        assert vera.get(f"/api/v1/plans/{plan_hash}").json() == compiled["plan"]
        text = vera.get(f"/api/v1/plans/{plan_hash}", params={"format": "text"})
        assert text.headers["content-type"].startswith("text/plain")
        assert text.text == runbook.stdout
        md = vera.get(f"/api/v1/plans/{plan_hash}", headers={"Accept": "text/markdown"})
        assert md.headers["content-type"].startswith("text/markdown")
        assert md.text.startswith("# Plan 2026-11 security (windows)")
        assert f"`{plan_hash}`" in md.text and runbook.stdout in md.text
        assert vera.get(f"/api/v1/plans/{'0' * 64}").status_code == 404
        assert vera.get("/api/v1/plans/short").status_code == 404
        # Compiling the same inputs again gives the same hash, and says it was known.
        again = otto.post("/api/v1/plans", json={"campaign": CAMPAIGN.read_text(), "at": AT})
        assert again.json()["plan_hash"] == plan_hash and again.json()["new"] is False
    mine = [e for e in plan_entries(estate) if e[1] == plan_hash]
    assert mine == [("otto", plan_hash, plan_hash)] * 2


def test_a_bad_campaign_or_inventory_is_refused_naming_file_line_field_and_nothing_is_kept(
    estate: Server,
) -> None:
    before = plan_entries(estate)
    with estate.client("otto") as otto:
        r = otto.post(
            "/api/v1/plans", json={"campaign": "name: x\ngroups: 3\n", "file_name": "c.yaml"}
        )
        assert r.status_code == 422, r.text
        problem = r.json()["problems"][0]
        assert problem["file"] == "c.yaml" and problem["line"] == 2 and problem["field"] == "groups"
        r = otto.post(
            "/api/v1/plans",
            json={
                "campaign": CAMPAIGN.read_text(),
                "inventory": [{"file_name": "estate.yaml", "text": BAD_INVENTORY}],
            },
        )
        assert r.status_code == 422, r.text
        problems = r.json()["problems"]
        assert any(
            p["file"] == "estate.yaml" and p["line"] == 3 and "memory_gb" in p["field"]
            for p in problems
        )
        # The CLI's own refusal for the same file says the same thing.
        r = otto.post("/api/v1/plans", json={"campaign": CAMPAIGN.read_text(), "at": "tomorrow"})
        assert r.status_code == 422
    assert plan_entries(estate) == before


def test_an_uploaded_inventory_is_planned_against_instead_of_the_stored_one(
    estate: Server, tmp_path: Path
) -> None:
    inventory = tmp_path / "two.yaml"
    inventory.write_text(
        "environments: [dev]\nassets:\n"
        + "".join(
            f"- {{id: app-{n}, kind: vm, env: dev, os: {{family: debian, release: '12'}},\n"
            "   packages: {openssl: 3.0.11-1~deb12u2}, roles: [web], connection: {transport: sim}}\n"
            for n in (1, 2)
        )
    )
    campaign = tmp_path / "dev.yaml"
    campaign.write_text(
        "name: dev only\n"
        "groups:\n  web: {select: {role: web}, strategy: rolling, max_unavailable: 1}\n"
    )
    with estate.client("otto") as otto:
        r = otto.post(
            "/api/v1/plans",
            json={
                "campaign": campaign.read_text(), "file_name": "dev.yaml", "at": AT,
                "inventory": [{"file_name": "two.yaml", "text": inventory.read_text()}],
            },
        )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["inventory"] == "files" and r.json()["plan"]["environments"] == ["dev"]
    local = local_plan(estate, str(campaign), "-i", str(inventory), "--at", AT, "--format", "json")
    assert local.returncode == 0, local.stderr
    assert r.json()["plan"] == json.loads(local.stdout)


def test_an_operator_limited_to_dev_compiles_only_plans_within_dev(estate: Server) -> None:
    before = plan_entries(estate)
    with estate.client("devon") as devon:  # an approver (above operator), dev only
        r = devon.post("/api/v1/plans", json={"campaign": CAMPAIGN.read_text(), "at": AT})
        assert r.status_code == 403 and "prod" in r.json()["detail"]
        # The same refusal for submitting it as a change: a known caller acting beyond its
        # environments is forbidden (403), not unauthenticated (401).
        r = devon.post("/api/v1/changes", json={"campaign": CAMPAIGN.read_text()})
        assert r.status_code == 403 and "prod" in r.json()["detail"]
    assert plan_entries(estate) == before  # nothing kept


def test_the_command_line_compiles_on_the_server(estate: Server) -> None:
    runbook = local_plan(estate, str(CAMPAIGN), "--at", AT)
    done = remote_plan(estate, "otto", str(CAMPAIGN), "--at", AT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == runbook.stdout
    as_json = remote_plan(estate, "otto", str(CAMPAIGN), "--at", AT, "--format", "json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["campaign"].endswith("(windows)")
    # A viewer may not compile: the server refuses, exit 2.
    refused = remote_plan(estate, "vera", str(CAMPAIGN), "--at", AT)
    assert refused.returncode == 2 and "403" in refused.stderr
    # A bad campaign is named by file, line and field, exit 2, as locally.
    bad = Path(estate.db.removeprefix("sqlite:///")).with_name("bad-campaign.yaml")
    bad.write_text("name: x\ngroups: 3\n")
    done = remote_plan(estate, "otto", str(bad))
    assert done.returncode == 2 and f"{bad}:2" in done.stderr and "groups" in done.stderr
