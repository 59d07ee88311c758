"""Fixtures for the store tests.

The behaviour tests are conformance classes (``*Conformance``) that any backend must pass.
A backend joins by subclassing each one with a ``db_url`` fixture that yields the URL of a
fresh, empty database; SQLite does so here with a file under ``tmp_path``. A PostgreSQL
backend would add, say, ``TestPostgresData(DataConformance)`` whose ``db_url`` creates a
throw-away database (and skips when no server is configured).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.store import Store, open_store


class FakeClock:
    """A clock that moves only when told to, so timestamps can be asserted exactly."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'patchwarden.db'}"


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    """An open store on the backend's fresh database (``db_url`` comes from the class)."""
    with open_store(db_url, clock=clock) as opened:
        yield opened
