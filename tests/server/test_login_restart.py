"""The login form outlives a restart of the server, and is good for one login only.

A login form is a pre-session cookie and a token, stored as their SHA-256 like a session:
a page served before the server restarted still logs in after it, a form cannot be posted
twice, and the database holds neither the cookie nor the token.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from serve_harness import PASSWORD, seed_users, start_server, stop_server

pytestmark = pytest.mark.slow  # a server started twice


def test_a_login_page_served_before_a_restart_still_logs_in_once(tmp_path: Path) -> None:
    db_file = tmp_path / "patchwarden.db"
    db = f"sqlite:///{db_file}"
    seed_users(db)
    log = tmp_path / "server.log"
    process, url = start_server(db, log)
    try:
        with httpx.Client(base_url=url, follow_redirects=False) as browser:
            page = browser.get("/login")
            cookie = page.cookies["pw_login"]
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
    finally:
        stop_server(process)
    # Only hashes are stored: neither the cookie nor the token is in the database.
    with sqlite3.connect(db_file) as connection:
        stored = connection.execute("select id_hash, token_hash from login_forms").fetchall()
    assert len(stored) == 1 and cookie not in stored[0] and token[1] not in stored[0]
    process, url = start_server(db, log)
    try:
        form = {"user": "vera", "password": PASSWORD, "csrf_token": token[1]}
        with httpx.Client(base_url=url, follow_redirects=False) as browser:
            browser.cookies.set("pw_login", cookie, path="/login")
            r = browser.post("/login", data=form)
            assert r.status_code == 303 and "pw_session" in r.cookies, r.text
        # The same form a second time (replayed): refused, no session.
        with httpx.Client(base_url=url, follow_redirects=False) as replay:
            replay.cookies.set("pw_login", cookie, path="/login")
            r = replay.post("/login", data=form)
            assert r.status_code == 403 and "pw_session" not in r.cookies
    finally:
        stop_server(process)
