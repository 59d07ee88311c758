"""Every route of the OpenAPI document refuses the anonymous and every role below its own.

The walk reads the routes from the server's own OpenAPI document, so a route added later
is covered without touching this file: it must say which role it needs
(``x-required-role``), or be on the short public list below.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from serve_harness import PASSWORD, ROLE_USER, Server

PUBLIC = {("post", "/api/v1/auth/login")}
"""Routes anyone may call: logging in."""

ROLES = ["viewer", "operator", "approver", "admin"]
METHODS = ("get", "post", "put", "patch", "delete")

EXPECTED_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


def routes(server: Server) -> list[tuple[str, str, dict[str, Any]]]:
    with server.client() as c:
        doc = c.get("/api/openapi.json").json()
    found = [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    assert len(found) >= 12, "the walk found too few routes to mean anything"
    # Every area of the command line is reached, so a refusal test below covers each one.
    paths = {path for _, path, _ in found}
    assert {
        "/api/v1/inventory", "/api/v1/scans", "/api/v1/scans/{scan_id}", "/api/v1/feeds/import",
        "/api/v1/feeds/sync", "/api/v1/feeds", "/api/v1/findings", "/api/v1/baselines/compliance",
        "/api/v1/plans", "/api/v1/plans/{plan_hash}", "/api/v1/changes", "/api/v1/runs",
        "/api/v1/report",
    } <= paths  # fmt: skip
    return found


def concrete(path: str) -> str:
    """Fill path parameters with values that exist nowhere (a refusal must come first)."""
    return re.sub(r"\{(\w+)\}", lambda m: "pause" if m[1] == "action" else "1", path)


def call(c: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    body = {} if method != "get" else None
    return c.request(method.upper(), concrete(path), json=body, **kwargs)


def test_every_route_names_its_role_or_is_public(server: Server) -> None:
    missing = [
        (m, p)
        for m, p, op in routes(server)
        if "x-required-role" not in op and (m, p) not in PUBLIC
    ]
    assert missing == []
    for _, _, op in routes(server):
        if "x-required-role" in op:
            assert op["x-required-role"] in ROLES


def test_every_route_refuses_the_anonymous(server: Server) -> None:
    with server.client() as c:
        for method, path, _ in routes(server):
            if (method, path) in PUBLIC:
                continue
            r = call(c, method, path)
            assert r.status_code == 401, (method, path, r.status_code, r.text)


def test_every_route_refuses_each_role_below_its_own_and_admits_its_own(server: Server) -> None:
    checked = 0
    for method, path, op in routes(server):
        needed = op.get("x-required-role")
        if needed is None:
            continue
        for role in ROLES[: ROLES.index(needed)]:
            with server.client(ROLE_USER[role]) as c:
                r = call(c, method, path)
            assert r.status_code == 403, (method, path, role, r.status_code, r.text)
            checked += 1
        with server.client(ROLE_USER[needed]) as c:
            r = call(c, method, path)
        # Admitted: whatever the answer (404 for a made-up id, 422 for an empty body), it is
        # not a refusal of who is calling.
        assert r.status_code not in (401, 403), (method, path, needed, r.status_code, r.text)
    assert checked >= 10  # every role below admin, for each admin route, and more


def test_every_state_changing_route_refuses_a_session_without_its_csrf_token(
    server: Server,
) -> None:
    with server.client() as c:
        r = c.post("/api/v1/auth/login", json={"user": "root", "password": PASSWORD})
        csrf = r.json()["csrf_token"]
        for method, path, _ in routes(server):
            if method == "get" or (method, path) in PUBLIC:
                continue
            r = call(c, method, path)
            assert r.status_code == 403 and "CSRF" in r.json()["detail"], (method, path)
        assert call(c, "get", "/api/v1/auth/me").status_code == 200
        c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        (None, "/api/openapi.json", 200),
        ("vera", "/api/v1/findings", 200),
        ("vera", "/api/v1/changes/424242", 404),
        (None, "/api/v1/findings", 401),
        ("vera", "/api/v1/no/such/route", 404),
    ],
)
def test_security_headers_on_every_kind_of_answer(
    server: Server, user: str | None, path: str, status: int
) -> None:
    with server.client(user) as c:
        r = c.get(path)
    assert r.status_code == status
    for name, value in EXPECTED_HEADERS.items():
        assert r.headers.get(name) == value, (name, path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "server" not in r.headers


def test_a_login_form_post_without_its_pre_session_token_is_refused(server: Server) -> None:
    """Login CSRF: a cross-site form cannot log a browser in as the attacker's user."""
    form = {"user": "vera", "password": PASSWORD}
    with httpx.Client(base_url=server.url, follow_redirects=False) as site:
        page = site.get("/login")
        cookie = page.cookies["pw_login"]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None and "HttpOnly" in page.headers["set-cookie"]
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        token_value = token[1]
    # Another site's form: the browser sends no SameSite=Strict cookie, and no token fits.
    with httpx.Client(base_url=server.url, follow_redirects=False) as other:
        for data in (form, {**form, "csrf_token": token_value}):
            r = other.post("/login", data=data, headers={"Origin": "https://evil.example"})
            assert r.status_code == 403 and "pw_session" not in r.cookies, data
    # A cookie planted with a token of the attacker's own making is refused too.
    with httpx.Client(base_url=server.url, follow_redirects=False) as planted:
        planted.cookies.set("pw_login", "A" * 43, path="/login")
        r = planted.post("/login", data={**form, "csrf_token": "0" * 64})
        assert r.status_code == 403 and "pw_session" not in r.cookies
    # The form's own cookie and token log in.
    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        browser.cookies.set("pw_login", cookie, path="/login")
        r = browser.post("/login", data={**form, "csrf_token": token_value})
        assert r.status_code == 303 and "pw_session" in r.cookies
