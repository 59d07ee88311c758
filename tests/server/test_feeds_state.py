"""A server's feed-sync state belongs to its database.

A sync that finds a source not modified imports nothing; were two databases to share one
state file, the second would stay empty. The default file is named by a digest of the
database URL, which may hold a password and so never appears in it.
"""

from __future__ import annotations

from pathlib import Path

from patchwarden.server.app import default_feeds_state
from patchwarden.store import open_store


def test_each_database_has_its_own_sync_state_file(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as a:
        first = default_feeds_state(a)
        assert default_feeds_state(a) == first  # the same every time for one database
    with open_store(f"sqlite:///{tmp_path / 'b.db'}") as b:
        second = default_feeds_state(b)
    assert first != second and first.parent == second.parent
    assert "a.db" not in first.name and str(tmp_path) not in first.name
    assert first.name.startswith("feeds-state-") and first.suffix == ".json"
