"""``patchwarden db upgrade|status`` on each database the store runs on."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect

from patchwarden.cli.main import main
from patchwarden.store.migrate import HEAD_REVISION


class DbCommandConformance:
    """The ``db`` commands; subclasses provide ``db_url`` (an empty database)."""

    def test_status_upgrade_status(self, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["db", "status", "--db", db_url, "--format", "json"]) == 0
        before = json.loads(capsys.readouterr().out)
        assert (before["before"], before["current"], before["head"]) == (None, False, HEAD_REVISION)

        assert main(["db", "upgrade", "--db", db_url]) == 0
        assert f"schema migrated from empty to {HEAD_REVISION}" in capsys.readouterr().out
        engine = create_engine(db_url)
        try:
            with engine.connect() as connection:
                assert {"runs", "journal", "audit_log"} <= set(
                    inspect(connection).get_table_names()
                )
        finally:
            engine.dispose()

        assert main(["db", "upgrade", "--db", db_url]) == 0
        assert "schema already current" in capsys.readouterr().out
        assert main(["db", "status", "--db", db_url]) == 0
        assert f"schema current (revision {HEAD_REVISION})" in capsys.readouterr().out

    def test_the_environment_names_the_database(
        self, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("PATCHWARDEN_DB", db_url)
        assert main(["db", "upgrade", "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["after"] == HEAD_REVISION


class TestSqliteDbCommand(DbCommandConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresDbCommand(DbCommandConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url


def test_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://pw:s3cret@127.0.0.1:1/patchwarden"
    assert main(["db", "status", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "cannot open the database at postgresql+psycopg://pw:***@127.0.0.1:1" in err
    assert "s3cret" not in err


def test_bad_format_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status", "--format", "xml"]) == 2
    assert "--format 'xml'" in capsys.readouterr().err
