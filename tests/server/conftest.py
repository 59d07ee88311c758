"""Fixtures: one real server for the session, and a fresh one for tests that need their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_harness import (
    Server,
    patchwarden,
    quick_campaign,
    seed_users,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session, with a user and a token of every role."""
    base = tmp_path_factory.mktemp("server")
    db = f"sqlite:///{base / 'patchwarden.db'}"
    tokens = seed_users(db)
    process, url = start_server(db, base / "server.log")
    try:
        yield Server(url, db, tokens, base / "server.log")
    finally:
        stop_server(process)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own, for tests that change what others would see (throttling)."""
    db = f"sqlite:///{tmp_path / 'patchwarden.db'}"
    tokens = seed_users(db)
    process, url = start_server(db, tmp_path / "server.log")
    try:
        yield Server(url, db, tokens, tmp_path / "server.log")
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def estate(server: Server) -> Server:
    """The session's server once the demo estate is assessed and one campaign has run.

    Written with the command line into the server's database while it serves, as a person
    would: the server reads the store on every request.
    """
    patchwarden("assess", "--demo", "--format", "json", db=server.db)
    campaign = Path(server.db.removeprefix("sqlite:///")).with_name("estate.yaml")
    campaign.write_text(quick_campaign("estate"))
    patchwarden("apply", str(campaign), db=server.db)
    return server
