"""Shared fixtures: every test gets its own data directory and database."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never touch the user's real database or data directory from a test.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("PATCHWARDEN_DB", f"sqlite:///{tmp_path / 'patchwarden.db'}")
