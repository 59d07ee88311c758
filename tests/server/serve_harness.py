"""Start a real ``patchwarden serve`` (uvicorn) on a loopback port; users of every role.

The server runs as a subprocess on its own database file, exactly as a person starts it;
tests talk to it over HTTP with httpx. Users and tokens are made beforehand through the same
service functions the ``user`` and ``token`` commands call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from patchwarden.service.audit import Actor
from patchwarden.service.identity import add_user, create_token
from patchwarden.store import open_store

ROOT = Path(__file__).parents[2]
CAMPAIGN = ROOT / "tests" / "golden" / "plans" / "demo-windows.yaml"
KEV_SAMPLE = "tests/data/feeds/known_exploited_vulnerabilities.sample.json"
PASSWORD = "correct horse battery"
ADMIN = Actor("root", "test setup")

# name -> (role, environments)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vera": ("viewer", ()),
    "otto": ("operator", ()),
    "carol": ("approver", ()),
    "bob": ("approver", ()),
    "root": ("admin", ()),
    "devon": ("approver", ("dev",)),
}
ROLE_USER = {"viewer": "vera", "operator": "otto", "approver": "bob", "admin": "root"}
"""One user per role, whose token the role tests use."""


def quick_campaign(name: str) -> str:
    """The demo campaign renamed, with no maintenance window and no soak: it runs at once.

    A run holds for windows and soak times (the engine waits for them, even simulated), so
    tests that watch a run finish use this one.
    """
    out, skipping = [], False
    for line in CAMPAIGN.read_text().splitlines():
        if line.startswith("windows:"):
            skipping = True
        elif skipping and not line.startswith(" "):
            skipping = False
        if not skipping and not line.startswith("promotion:"):
            out.append(line)
    return "\n".join(out).replace("name: 2026-11 security (windows)", f"name: {name}") + "\n"


@dataclass
class Server:
    """A running server: its base URL, database, and a token per user."""

    url: str
    db: str
    tokens: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def client(self, user: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        # kwargs are httpx.Client options passed through; mypy cannot match them to its signature
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patchwarden(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATCHWARDEN_DB": db}
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args], env=env, capture_output=True, text=True,
        check=True, timeout=240,
    )  # fmt: skip


def start_server(
    db: str, log: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``patchwarden serve`` (with ``extra`` options) on a free loopback port; wait."""
    port = free_port()
    env = {**os.environ, "PATCHWARDEN_DB": db, **(env_extra or {})}
    if "--feeds-config" not in extra:
        # A test's server never fetches the official feeds: a sync (the security walk
        # starts one) reads a KEV sample from this checkout instead.
        config = log.with_name(f"{log.stem}-feeds.toml")
        config.write_text(f'[sources]\nkev = "{(ROOT / KEV_SAMPLE).as_uri()}"\n')
        extra = (*extra, "--feeds-config", str(config))
    if "--feeds-state" not in extra:
        extra = (*extra, "--feeds-state", str(log.with_name(f"{log.stem}-feeds-state.json")))
    with log.open("ab") as out:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "patchwarden", "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/api/openapi.json", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not answer within 180 s: {log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def seed_users(db: str) -> dict[str, str]:
    tokens = {}
    with open_store(db) as store:
        for name, (role, envs) in USERS.items():
            add_user(store, name, PASSWORD, role, envs, ADMIN)
            tokens[name] = create_token(store, name, "tests", None, (), None, ADMIN).secret
    return tokens
