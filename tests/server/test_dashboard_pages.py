"""The dashboard's asset, plan and admin pages over HTTP against a real server.

Assets with their drill-down (owner, environment, packages, findings, runs), a plan as a
runbook, and the admin pages for users and tokens: roles enforced (a viewer and an
operator are refused, forged posts too), every form's CSRF token checked, a new token's
secret shown once and working, a revoked one and a disabled user's refused.
"""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest
from serve_harness import ROLE_USER, Server
from test_dashboard import logged_in, submitted

from patchwarden.service.asset_views import plan_targets
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # the session's server assesses the demo estate first


def test_assets_drill_down_to_owner_packages_findings_and_runs(estate: Server) -> None:
    c, _ = logged_in(estate, "vera")
    with closing(c):
        listing = c.get("/assets")
        assert listing.status_code == 200
        ids = re.findall(r'<a href="/assets/([^"]+)">', listing.text)
        assert len(ids) > 5
        prod = c.get("/assets", params={"env": "prod"}).text
        assert "<td>prod</td>" in prod and "<td>dev</td>" not in prod
        with estate.client("vera") as api:
            first = api.get("/api/v1/findings", params={"per_page": 1}).json()["items"][0]
            exposed = first["asset_id"]
            total = api.get("/api/v1/findings", params={"asset": exposed}).json()["total"]
        page = c.get(f"/assets/{exposed}")
        assert page.status_code == 200
        owner = re.search(r'<dd id="owner">([^<]+)</dd>', page.text)
        assert owner is not None and owner[1] in ("customer", "provider")
        assert re.search(r'<dd id="packages">\d+ \(from ', page.text)
        shown = re.search(r'<p id="findings-total">(\d+) finding', page.text)
        assert shown is not None and int(shown[1]) == total > 0
        assert page.text.count('<tr class="sev-') == min(total, 500)
        # The estate's campaign ran on some assets: their pages list the run, others not.
        with open_store(estate.db) as store:
            run = store.runs()[0]
            plan = store.get_plan(run.plan_hash)
        assert plan is not None
        targets = plan_targets(plan.data)
        target = sorted(targets & set(ids))[0]
        assert f'href="/runs/{run.id}"' in c.get(f"/assets/{target}").text
        other = sorted(set(ids) - targets)[0]
        assert 'href="/runs/' not in c.get(f"/assets/{other}").text
        assert c.get("/assets/no-such-asset").status_code == 404
    anon = httpx.get(f"{estate.url}/assets", follow_redirects=False)
    assert anon.status_code == 303


def test_a_plan_reads_as_a_runbook_from_its_change(estate: Server) -> None:
    change = submitted(estate, "runbook page")
    c, _ = logged_in(estate, "vera")
    with closing(c):
        page = c.get(f"/changes/{change['id']}").text
        link = re.search(r'href="/plans/([0-9a-f]{64})" id="runbook-link"', page)
        assert link is not None and link[1] == change["plan_hash"]
        runbook = c.get(f"/plans/{link[1]}")
        assert runbook.status_code == 200
        assert 'id="runbook"' in runbook.text and 'class="wave"' in runbook.text
        assert 'class="unit"' in runbook.text and "→" in runbook.text
        assert c.get("/plans/" + "0" * 64).status_code == 404


def test_users_and_tokens_for_admins_only_with_csrf(estate: Server) -> None:
    for who in ("vera", "otto"):
        c, csrf = logged_in(estate, who)
        with closing(c):
            assert c.get("/admin/users").status_code == 403, who
            assert c.get("/admin/tokens").status_code == 403, who
            forged = c.post(
                "/admin/users",
                data={"csrf_token": csrf, "name": "mallory", "password": "x" * 20,
                      "role": "admin"},
            )  # fmt: skip
            assert forged.status_code == 403, who
    root, csrf = logged_in(estate, "root")
    with closing(root):
        page = root.get("/admin/users")
        assert page.status_code == 200 and 'id="users"' in page.text and "vera" in page.text
        assert 'name="csrf_token"' in page.text
        form = {"name": "nadia", "password": "a long enough password", "role": "operator",
                "environments": "dev, qa"}  # fmt: skip
        assert root.post("/admin/users", data=form).status_code == 403, "no CSRF token"
        added = root.post("/admin/users", data={**form, "csrf_token": csrf})
        assert added.status_code == 303
        assert "<td>nadia</td><td>operator</td><td>dev, qa</td>" in root.get("/admin/users").text
        again = root.post("/admin/users", data={**form, "csrf_token": csrf})
        assert again.status_code == 400 and 'id="error"' in again.text
        # A token for nadia, shown once.
        made = root.post(
            "/admin/tokens",
            data={"csrf_token": csrf, "user": "nadia", "name": "ci", "role": "viewer",
                  "expires": "1d"},
        )  # fmt: skip
        assert made.status_code == 201
        secret = re.search(r'<code id="secret">([^<]+)</code>', made.text)
        assert secret is not None and secret[1].startswith("pwt_")
        listing = root.get("/admin/tokens").text
        assert secret[1] not in listing and "<td>ci</td>" in listing
        with httpx.Client(base_url=estate.url, timeout=30) as api:
            bearer = {"Authorization": f"Bearer {secret[1]}"}
            assert api.get("/api/v1/auth/me", headers=bearer).json()["role"] == "viewer"
            token_id = secret[1].removeprefix("pwt_").split("_")[0]
            assert root.post(f"/admin/tokens/{token_id}/revoke").status_code == 403
            revoked = root.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
            assert revoked.status_code == 303
            assert api.get("/api/v1/auth/me", headers=bearer).status_code == 401
            # A disabled user's tokens stop working; enabled, they work again.
            made = root.post(
                "/admin/tokens", data={"csrf_token": csrf, "user": "nadia", "expires": "1d"}
            )
            fresh = re.search(r'<code id="secret">([^<]+)</code>', made.text)
            assert fresh is not None
            bearer = {"Authorization": f"Bearer {fresh[1]}"}
            assert api.get("/api/v1/auth/me", headers=bearer).status_code == 200
            off = root.post("/admin/users/nadia/disable", data={"csrf_token": csrf})
            assert off.status_code == 303
            assert api.get("/api/v1/auth/me", headers=bearer).status_code == 401
            on = root.post("/admin/users/nadia/enable", data={"csrf_token": csrf})
            assert on.status_code == 303
            assert api.get("/api/v1/auth/me", headers=bearer).status_code == 200
        # An admin cannot disable the account it is logged in with.
        me = ROLE_USER["admin"]
        selfish = root.post(f"/admin/users/{me}/disable", data={"csrf_token": csrf})
        assert selfish.status_code == 400
    with open_store(estate.db) as store:
        trail = store.audit.entries(AuditFilter(actor="root"))
    actions = {e.action for e in trail}
    assert {"user.add", "token.create", "token.revoke", "user.disable", "user.enable"} <= actions
