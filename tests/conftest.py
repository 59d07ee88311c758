"""Shared fixtures: every test gets its own data directory and database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.testing.postgres import PostgresServer
from patchwarden.testing.temporal import TemporalDevServer

GOLDEN = Path(__file__).parent / "golden"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On several processes (``-n``), the slow tests go out first.

    pytest-xdist hands out files in collection order; a few slow files (Temporal, servers)
    left to the end would run on one process while the others sit idle. Tests do not
    depend on their order; the sort is stable, so the order within each kind is kept.
    """
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: its order is the one used
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never touch the user's real database or data directory from a test.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PATCHWARDEN_DB", f"sqlite:///{tmp_path / 'patchwarden.db'}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session, started on first use."""
    with PostgresServer.started() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalDevServer]:
    """One Temporal dev server (``temporal server start-dev``) for the session, on first use."""
    with TemporalDevServer.started() as server:
        yield server
