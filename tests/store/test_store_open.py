"""Finding and opening the database: URL precedence, readable failures, a fast start."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import platformdirs
import pytest
from sqlalchemy import text

from patchwarden.errors import StoreError
from patchwarden.store import ENV_VAR, default_url, open_store, resolve_url

# -- resolve_url ----------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data" / "patchwarden"
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(folder))
    return folder


def test_cli_url_wins_over_the_environment(data_dir: Path) -> None:
    url = resolve_url("sqlite:///cli.db", {ENV_VAR: "sqlite:///env.db"})
    assert url == "sqlite:///cli.db"
    assert not data_dir.exists()


def test_environment_wins_over_the_default(data_dir: Path) -> None:
    assert resolve_url(None, {ENV_VAR: "sqlite:///env.db"}) == "sqlite:///env.db"
    assert not data_dir.exists()


def test_default_is_sqlite_in_the_user_data_dir(data_dir: Path) -> None:
    url = resolve_url(None, {})
    assert url == f"sqlite:///{data_dir / 'patchwarden.db'}"
    assert data_dir.is_dir()


def test_empty_values_count_as_unset(data_dir: Path) -> None:
    assert resolve_url("", {ENV_VAR: ""}) == default_url()


def test_default_url_opens(data_dir: Path) -> None:
    with open_store(resolve_url(None, {})) as store:
        assert store.latest_run() is None
    assert (data_dir / "patchwarden.db").is_file()


def test_uncreatable_data_dir_is_a_store_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(blocker / "pw"))
    with pytest.raises(StoreError, match="cannot create the data directory"):
        resolve_url(None, {})


# -- failures to open -----------------------------------------------------------------


def test_unwritable_path_is_a_store_error(tmp_path: Path) -> None:
    # A regular file where a directory should be: fails even for root, unlike chmod.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as raised:
        open_store(f"sqlite:///{blocker / 'patchwarden.db'}")
    message = str(raised.value)
    assert "cannot open the database at sqlite:///" in message
    assert "unable to open database file" in message
    assert f"check that {blocker} exists and is writable" in message


def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path / 'absent' / 'patchwarden.db'}")


def test_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://host/db"])
def test_invalid_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        open_store(url)


def test_password_is_not_shown(tmp_path: Path) -> None:
    # Fails one way or another (no driver, or no server); the password must not leak.
    with pytest.raises(StoreError) as raised:
        open_store("postgresql://user:s3cret@127.0.0.1:1/patchwarden")
    assert "s3cret" not in str(raised.value)


def test_database_from_a_newer_patchwarden_is_refused(sqlite_url: str) -> None:
    open_store(sqlite_url).close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="revision '9999'.*newer patchwarden"):
        open_store(sqlite_url)


# -- SQLite tuning and start-up speed --------------------------------------------------


def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store, store.engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
        assert connection.scalar(text("PRAGMA synchronous")) == 1  # NORMAL


def test_readers_do_not_wait_for_a_writer(sqlite_url: str) -> None:
    with open_store(sqlite_url) as store:
        store.save_plan("a" * 64, "p", {})
        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # holds the write lock
            writer.execute("UPDATE plans SET name = 'q'")
            started = time.perf_counter()
            plan = store.get_plan("a" * 64)
            assert time.perf_counter() - started < 1
            assert plan is not None and plan.name == "p"  # the committed version
        finally:
            writer.execute("ROLLBACK")
            writer.close()


def test_opening_a_current_database_does_not_load_alembic(sqlite_url: str) -> None:
    open_store(sqlite_url).close()
    script = (
        "import sys; from patchwarden.store import open_store; "
        f"open_store({sqlite_url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_in_memory_database_is_shared_between_threads() -> None:
    with open_store("sqlite://") as store:
        store.save_plan("a" * 64, "p", {})
        found: list[object] = []
        worker = threading.Thread(target=lambda: found.append(store.get_plan("a" * 64)))
        worker.start()
        worker.join()
        assert found and found[0] is not None
