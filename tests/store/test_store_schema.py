"""The schema: migrations apply once, match the ORM models, and downgrade cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, create_engine, inspect

from patchwarden.store import open_store
from patchwarden.store.migrate import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    upgrade_to_head,
)
from patchwarden.store.tables import Base

TABLES = {"inventory_assets", "advisories", "assessments", "findings", "plans", "runs", "journal"}


def test_head_revision_constant_matches_the_scripts() -> None:
    # open_store skips Alembic when the database is at HEAD_REVISION, so a new migration
    # must bump the constant or it would never run.
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


class SchemaConformance:
    """Schema behaviour every backend must show; subclasses provide ``db_url``."""

    @pytest.fixture
    def engine(self, db_url: str) -> Iterator[Engine]:
        engine = create_engine(db_url)
        yield engine
        engine.dispose()

    def test_migrations_create_every_table_on_a_fresh_database(self, engine: Engine) -> None:
        with engine.connect() as connection:
            assert current_revision(connection) is None
            assert upgrade_to_head(connection) is True
            connection.commit()
        with engine.connect() as connection:
            assert current_revision(connection) == HEAD_REVISION
            assert set(inspect(connection).get_table_names()) >= TABLES

    def test_migrating_again_is_a_no_op(self, engine: Engine) -> None:
        with engine.connect() as connection:
            upgrade_to_head(connection)
            connection.commit()
        with engine.connect() as connection:
            assert upgrade_to_head(connection) is False
            assert current_revision(connection) == HEAD_REVISION

    def test_open_store_twice_keeps_the_data(self, db_url: str) -> None:
        with open_store(db_url) as store:
            store.save_plan("a" * 64, "first", {"steps": []})
        with open_store(db_url) as store:
            plan = store.get_plan("a" * 64)
        assert plan is not None and plan.name == "first"

    def test_orm_models_match_the_migrations(self, db_url: str, engine: Engine) -> None:
        open_store(db_url).close()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, Base.metadata)
        assert diffs == []

    def test_the_model_comparison_notices_drift(self, db_url: str, engine: Engine) -> None:
        # Guards the test above against passing vacuously.
        open_store(db_url).close()
        drifted = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(drifted)
        drifted.tables["runs"].append_column(Column("extra", String()))
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, drifted)
        assert [d[0] for d in diffs] == ["add_column"]

    def test_downgrade_to_base_and_back(self, db_url: str, engine: Engine) -> None:
        open_store(db_url).close()
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with engine.connect() as connection:
            assert not TABLES & set(inspect(connection).get_table_names())
            assert current_revision(connection) is None
        with open_store(db_url) as store:
            assert store.latest_run() is None
        with engine.connect() as connection:
            assert current_revision(connection) == HEAD_REVISION


class TestSqliteSchema(SchemaConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresSchema(SchemaConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url
