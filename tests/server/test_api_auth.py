"""Logging in and calling the API: tokens, sessions, CSRF, revocation, expiry, throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from serve_harness import ADMIN, PASSWORD, Server

from patchwarden.service.identity import create_token, revoke_token
from patchwarden.store import open_store


def test_a_token_says_who_it_is(server: Server) -> None:
    with server.client("otto") as c:
        me = c.get("/api/v1/auth/me").json()
    assert me["user"] == "otto" and me["role"] == "operator" and me["via"].startswith("token ")


def test_anonymous_and_malformed_credentials_get_401(server: Server) -> None:
    with server.client() as c:
        r = c.get("/api/v1/auth/me")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        for header in ("Basic dm9yYTp4", "Bearer", "Bearer pwt_nope_nope", "token abc"):
            r = c.get("/api/v1/auth/me", headers={"Authorization": header})
            assert r.status_code == 401, header


def test_a_session_login_sets_a_safe_cookie_and_needs_csrf_to_change_state(server: Server) -> None:
    with server.client() as c:
        r = c.post("/api/v1/auth/login", json={"user": "vera", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "pw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        csrf = r.json()["csrf_token"]
        assert c.get("/api/v1/auth/me").json()["via"] == "session"
        # A forged cross-site POST carries the cookie but not the CSRF token.
        r = c.post("/api/v1/auth/logout")
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"})
        assert r.status_code == 403
        r = c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.json() == {"logged_out": True}
        assert c.get("/api/v1/auth/me").status_code == 401


def test_wrong_passwords_are_refused_alike(server: Server) -> None:
    with server.client() as c:
        a = c.post("/api/v1/auth/login", json={"user": "vera", "password": "not it at all"})
        b = c.post("/api/v1/auth/login", json={"user": "nobody", "password": "not it at all"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json() == {"detail": "wrong user name or password"}


def test_revoked_and_expired_tokens_are_refused(server: Server) -> None:
    with open_store(server.db) as store:
        revoked = create_token(store, "vera", "", None, (), None, ADMIN)
        soon = datetime.now(UTC) + timedelta(seconds=2)
        expiring = create_token(store, "vera", "", None, (), soon, ADMIN)
    with server.client() as c:

        def me(secret: str) -> httpx.Response:
            return c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})

        assert me(revoked.secret).status_code == 200
        assert me(expiring.secret).status_code == 200
        with open_store(server.db) as store:
            revoke_token(store, revoked.record.id, ADMIN)
        r = me(revoked.secret)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        while datetime.now(UTC) < soon:
            pass
        r = me(expiring.secret)
        assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_logins_are_throttled(fresh_server: Server) -> None:
    with fresh_server.client() as c:
        for _ in range(5):
            r = c.post("/api/v1/auth/login", json={"user": "bob", "password": "guess guess guess"})
            assert r.status_code == 401
        r = c.post("/api/v1/auth/login", json={"user": "bob", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # Tokens are not logins: they keep working.
        with fresh_server.client("bob") as bob:
            assert bob.get("/api/v1/auth/me").status_code == 200


def test_secrets_never_reach_the_server_log(server: Server) -> None:
    with server.client() as c:
        c.post("/api/v1/auth/login", json={"user": "vera", "password": PASSWORD})
    assert server.log is not None
    text = server.log.read_text()
    assert PASSWORD not in text
    assert all(secret.split("_", 2)[2] not in text for secret in server.tokens.values())
