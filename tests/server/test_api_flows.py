"""The API against a real server: inventories, findings, changes with four eyes, runs."""

from __future__ import annotations

import csv
import io

import pytest
from serve_harness import CAMPAIGN, Server

from patchwarden.service.audit import verify_trail
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # the demo estate is assessed and a campaign run first (~20 s)

BAD_INVENTORY = """\
assets:
- {id: web-1, kind: vm, env: prod}
- {id: web-2, kind: vm, env: prod, memory_gb: lots}
"""


def test_a_bad_inventory_upload_is_refused_with_file_line_field_and_changes_nothing(
    estate: Server,
) -> None:
    with estate.client("root") as c:
        before = c.get("/api/v1/inventory/assets").json()
        r = c.post(
            "/api/v1/inventory", files=[("files", ("bad.yaml", BAD_INVENTORY, "application/yaml"))]
        )
        assert r.status_code == 422
        problems = r.json()["problems"]
        assert problems and all(p["file"] == "bad.yaml" and p["line"] > 0 for p in problems)
        assert any(p["line"] == 3 and "memory_gb" in p["field"] for p in problems)
        assert c.get("/api/v1/inventory/assets").json() == before


def test_an_operator_limited_to_an_environment_cannot_replace_the_inventory(estate: Server) -> None:
    with estate.client("devon") as c:
        r = c.post("/api/v1/inventory", files=[("files", ("x.yaml", "assets: []\n", "text/yaml"))])
    assert r.status_code == 403


def test_assets_list_and_show_with_owner_within_the_callers_environments(estate: Server) -> None:
    with estate.client("vera") as c:
        everything = c.get("/api/v1/inventory/assets").json()
        assert {a["env"] for a in everything} >= {"dev", "prod"}
        one = c.get(f"/api/v1/inventory/assets/{everything[0]['id']}").json()
        assert one["owner"] in ("customer", "provider") and ":" in one["source"] and one["data"]
        assert c.get("/api/v1/inventory/assets/nope").status_code == 404
        prod = c.get("/api/v1/inventory/assets", params={"env": "prod"}).json()
        assert prod and {a["env"] for a in prod} == {"prod"}
    with estate.client("devon") as c:  # limited to dev
        mine = c.get("/api/v1/inventory/assets").json()
        assert mine and {a["env"] for a in mine} == {"dev"}
        prod_asset = prod[0]["id"]
        assert c.get(f"/api/v1/inventory/assets/{prod_asset}").status_code == 404


def test_findings_filter_page_and_csv(estate: Server) -> None:
    with estate.client("vera") as c:
        everything = c.get("/api/v1/findings", params={"per_page": 1000}).json()
        assert everything["total"] > 3 and everything["assessment_id"] == 1
        severities = {f["severity"] for f in everything["items"]}
        pick = sorted(severities)[0]
        only = c.get("/api/v1/findings", params={"severity": pick, "per_page": 1000}).json()
        assert only["total"] == sum(f["severity"] == pick for f in everything["items"])
        page2 = c.get("/api/v1/findings", params={"per_page": 2, "page": 2}).json()
        assert page2["items"] == everything["items"][2:4] and page2["total"] == everything["total"]
        r = c.get("/api/v1/findings", params={"format": "csv", "env": "prod", "per_page": 1000})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows and {row["env"] for row in rows} == {"prod"}
        assert c.get("/api/v1/findings", params={"page": 0}).status_code == 422
    with estate.client("devon") as c:
        mine = c.get("/api/v1/findings", params={"per_page": 1000}).json()
        assert {f["env"] for f in mine["items"]} <= {"dev"}


def test_two_person_approval_on_authenticated_identities(estate: Server) -> None:
    campaign = CAMPAIGN.read_text()
    with (
        estate.client("carol") as carol,
        estate.client("bob") as bob,
        estate.client("otto") as otto,
        estate.client("devon") as devon,
        estate.client("vera") as vera,
    ):
        # A bad campaign: 422 naming file, line and field.
        r = carol.post(
            "/api/v1/changes", json={"campaign": "name: x\ngroups: 3\n", "file_name": "c.yaml"}
        )
        assert r.status_code == 422 and r.json()["problems"][0]["file"] == "c.yaml"
        r = carol.post("/api/v1/changes", json={"campaign": campaign, "title": "Nov fixes"})
        assert r.status_code == 201, r.text
        change = r.json()
        cid, plan_hash = change["id"], change["plan_hash"]
        assert change["requester"] == "carol" and change["state"] == "submitted"
        # Four eyes: carol holds the approver role but requested it.
        r = carol.post(f"/api/v1/changes/{cid}/approve", json={"plan_hash": plan_hash})
        assert r.status_code == 409 and "four eyes" in r.json()["detail"]
        # An operator cannot approve at all, nor an approver limited to dev a prod change.
        assert (
            otto.post(f"/api/v1/changes/{cid}/approve", json={"plan_hash": plan_hash}).status_code
            == 403
        )
        assert devon.post(
            f"/api/v1/changes/{cid}/approve", json={"plan_hash": plan_hash}
        ).status_code in (403, 404)
        # An approval names the plan reviewed; another hash is refused.
        r = bob.post(f"/api/v1/changes/{cid}/approve", json={"plan_hash": "0" * 64})
        assert r.status_code == 409 and "you reviewed" in r.json()["detail"]
        r = bob.post(
            f"/api/v1/changes/{cid}/approve", json={"plan_hash": plan_hash, "comment": "ok"}
        )
        assert r.status_code == 200 and r.json()["state"] == "approved"
        assert r.json()["approvals"][0]["by"] == "bob"
        shown = vera.get(f"/api/v1/changes/{cid}").json()
        assert shown["state"] == "approved" and shown["plan_hash"] == plan_hash
        assert any(c["id"] == cid for c in vera.get("/api/v1/changes").json())
        assert vera.get("/api/v1/changes/9999").status_code == 404
    with open_store(estate.db) as store:
        entries = store.audit.entries(AuditFilter(object_type="change", object_id=str(cid)))
        trail = [(e.actor, e.action) for e in entries]
        assert ("carol", "change.submit") in trail and ("bob", "change.approve") in trail
        assert all(e.source.startswith("api 127.0.0.1 (token ") for e in entries)
        assert all(e.object_hash == plan_hash for e in entries)
        verify_trail(store)


def test_reject(estate: Server) -> None:
    campaign = CAMPAIGN.read_text().replace("name: 2026-11 security (windows)", "name: reject-me")
    with estate.client("otto") as otto, estate.client("bob") as bob:
        r = otto.post("/api/v1/changes", json={"campaign": campaign})
        assert r.status_code == 201 and r.json()["campaign"] == "reject-me"
        cid = r.json()["id"]
        assert bob.post(f"/api/v1/changes/{cid}/reject", json={"reason": ""}).status_code == 422
        r = bob.post(f"/api/v1/changes/{cid}/reject", json={"reason": "freeze"})
        assert r.status_code == 200 and r.json()["state"] == "rejected"
        assert (
            bob.post(f"/api/v1/changes/{cid}/reject", json={"reason": "again"}).status_code == 409
        )


def test_runs_list_status_and_pause_of_an_ended_run(estate: Server) -> None:
    with estate.client("vera") as vera, estate.client("otto") as otto:
        runs = vera.get("/api/v1/runs").json()
        assert runs and runs[0]["state"] in ("completed", "failed", "rolled_back")
        status = vera.get(f"/api/v1/runs/{runs[0]['id']}").json()
        assert (
            status["waves"] and status["campaign"] and status["plan_hash"] == runs[0]["plan_hash"]
        )
        assert vera.get("/api/v1/runs/nope").status_code == 404
        r = otto.post(f"/api/v1/runs/{runs[0]['id']}/pause")
        assert r.status_code == 400 and "cannot pause" in r.json()["detail"]
        assert otto.post(f"/api/v1/runs/{runs[0]['id']}/explode").status_code == 422


def test_admin_reads_users_and_the_audit_trail_and_verifies_it(estate: Server) -> None:
    with estate.client("root") as c:
        users = c.get("/api/v1/users").json()
        assert {u["name"] for u in users} >= {"vera", "otto", "bob", "carol", "root"}
        assert all("hash" not in str(u) for u in users)
        entries = c.get("/api/v1/audit", params={"action": "token.", "limit": 3}).json()
        assert len(entries) == 3 and all(e["action"].startswith("token.") for e in entries)
        verified = c.get("/api/v1/audit/verify").json()
        assert verified["entries"] > 5 and len(verified["head"]["hash"]) == 64
