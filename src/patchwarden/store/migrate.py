"""Bring a database's schema to the newest revision, quickly when there is nothing to do.

Alembic is configured from code, so no ini file has to ship or be found at run time. Every
command opens the store, so the common case (schema already current) must be cheap: one
query of ``alembic_version`` compared with :data:`HEAD_REVISION`, without importing
Alembic or reading the migration scripts at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from patchwarden.errors import StoreError
from patchwarden.store.locks import take_turn

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "upgrade_to_head",
]

HEAD_REVISION = "0008"
"""The newest migration; a test checks it against the scripts, so bump it with each one."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory, shipped inside the package."""

VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations.

    Args:
        connection: The connection migrations run on; ``env.py`` picks it up from
            ``config.attributes`` so they share the caller's transaction.

    Returns:
        The configuration, ready for ``alembic.command`` or ``ScriptDirectory.from_config``.
    """
    from alembic.config import Config  # deferred: only needed when migrating

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Set explicitly: Alembic warns when it has to guess how to split path lists.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or ``None`` for a database never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        # Several heads would mean branched migrations, which this project never makes.
        raise StoreError(f"database has several schema revisions {sorted(rows)}; expected one")
    return rows[0] if rows else None


def upgrade_to_head(connection: Connection) -> bool:
    """Run pending migrations on ``connection`` inside its current transaction.

    The caller commits, so a failing migration leaves the schema as it was (on databases
    with transactional DDL, which SQLite and PostgreSQL both have).

    Returns:
        ``True`` if migrations ran, ``False`` if the schema was already current.

    Raises:
        StoreError: the database is at a revision this version of patchwarden does not know
            (written by a newer patchwarden), or a migration failed.
    """
    current = current_revision(connection)
    if current == HEAD_REVISION:
        return False
    # Several processes may open a fresh shared database at once: on PostgreSQL they take
    # turns here, and each after the first finds the schema current. (SQLite's writers
    # are serial already.)
    take_turn(connection, "migrate")
    current = current_revision(connection)
    if current == HEAD_REVISION:
        return False

    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config(connection)
    if current is not None:
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if current not in known:
            raise StoreError(
                f"database schema is at revision {current!r}, which this version of "
                "patchwarden does not know; it was probably written by a newer patchwarden"
            )
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(f"could not migrate the database schema: {exc}") from exc
    return True
