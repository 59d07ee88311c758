"""The dashboard's pages over HTTP against a real server: login, roles, CSRF, four eyes.

What a browser cannot show (a forged POST, a missing token) is sent here with httpx; the
browser test (``test_dashboard_browser.py``) drives the same pages in Chromium.
"""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest
from serve_harness import CAMPAIGN, PASSWORD, Server

pytestmark = pytest.mark.slow  # the session's server assesses the demo estate first


def login_token(c: httpx.Client) -> str:
    """The login form's CSRF token (the form sets its pre-session cookie in ``c``)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert match is not None
    return match[1]


def logged_in(server: Server, user: str) -> tuple[httpx.Client, str]:
    """A browser-like client logged in as ``user``, and its CSRF token from a page."""
    c = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
    token = login_token(c)
    r = c.post("/login", data={"user": user, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/"
    page = c.get("/").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return c, match[1]


def submitted(server: Server, name: str) -> dict[str, object]:
    campaign = CAMPAIGN.read_text().replace("name: 2026-11 security (windows)", f"name: {name}")
    with server.client("carol") as carol:
        r = carol.post("/api/v1/changes", json={"campaign": campaign})
    assert r.status_code == 201
    change: dict[str, object] = r.json()
    return change


def test_pages_need_a_login_and_carry_a_strict_policy(estate: Server) -> None:
    with httpx.Client(base_url=estate.url, follow_redirects=False) as anon:
        for path in ("/", "/findings", "/changes", "/runs", "/audit"):
            r = anon.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/login", path
        token = login_token(anon)
        r = anon.post("/login", data={"user": "vera", "password": "wrong", "csrf_token": token})
        assert r.status_code == 401 and "wrong user name or password" in r.text
        assert "pw_session" not in r.cookies
    c, _ = logged_in(estate, "vera")
    with closing(c):
        r = c.get("/")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        assert 'id="exposure"' in r.text and "prod" in r.text
        assert "<script" not in r.text  # readable without scripts; only the run page has one
        findings = c.get("/findings", params={"env": "prod"}).text
        rows = re.findall(r'<tr class="sev-', findings)
        assert rows and "<td>prod</td>" in findings
        assert c.get("/audit").status_code == 403  # admins only
    root, _ = logged_in(estate, "root")
    with closing(root):
        assert 'id="audit"' in root.get("/audit").text


def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(estate: Server) -> None:
    change = submitted(estate, "dash-viewer")
    cid = change["id"]
    c, csrf = logged_in(estate, "vera")
    with closing(c):
        page = c.get(f"/changes/{cid}").text
        assert 'id="approve"' not in page and 'id="run"' not in page
        # A viewer's own valid session and token do not make the role.
        forged = {"csrf_token": csrf, "plan_hash": change["plan_hash"]}
        assert c.post(f"/changes/{cid}/approve", data=forged).status_code == 403
        assert c.post(f"/changes/{cid}/run", data={"csrf_token": csrf}).status_code == 403
    bob, _ = logged_in(estate, "bob")
    with closing(bob):
        # An approver's session without its CSRF token (a cross-site form) is refused.
        r = bob.post(f"/changes/{cid}/approve", data={"plan_hash": change["plan_hash"]})
        assert r.status_code == 403 and "CSRF" in r.text
        r = bob.post(
            f"/changes/{cid}/approve",
            data={"csrf_token": "x" * 43, "plan_hash": change["plan_hash"]},
        )
        assert r.status_code == 403
    with estate.client("vera") as api:
        assert api.get(f"/api/v1/changes/{cid}").json()["state"] == "submitted"


def test_the_requester_cannot_approve_and_another_approver_can(estate: Server) -> None:
    change = submitted(estate, "dash-four-eyes")
    cid = change["id"]
    carol, csrf = logged_in(estate, "carol")
    with closing(carol):
        page = carol.get(f"/changes/{cid}").text
        assert 'id="approve"' not in page and 'id="own"' in page
        r = carol.post(
            f"/changes/{cid}/approve", data={"csrf_token": csrf, "plan_hash": change["plan_hash"]}
        )
        assert r.status_code == 409 and "four eyes" in r.text
    bob, csrf = logged_in(estate, "bob")
    with closing(bob):
        assert 'id="approve"' in bob.get(f"/changes/{cid}").text
        r = bob.post(
            f"/changes/{cid}/approve",
            data={"csrf_token": csrf, "plan_hash": change["plan_hash"], "comment": "looks fine"},
        )
        assert r.status_code == 303
        page = bob.get(f"/changes/{cid}").text
        assert '<dd id="state">approved</dd>' in page and "approved by bob" in page
        r = bob.post("/logout", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert bob.get("/").status_code == 303  # the session is gone
