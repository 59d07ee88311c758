"""Alembic environment for patchwarden's store.

Normally ``patchwarden.store.migrate`` passes its own connection (already inside a
transaction) through ``config.attributes["connection"]``, so migrations share the caller's
transaction. Without one, a connection is opened from ``sqlalchemy.url``, which lets
developers run Alembic by hand (for example to autogenerate a new revision).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from patchwarden.store.migrate import VERSION_TABLE
from patchwarden.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite's DDL is transactional too; Alembic assumes otherwise by default.
        transactional_ddl=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (alembic -x or Config.set_main_option)")
    engine = create_engine(url)
    try:
        with engine.connect() as own:
            _configure(own)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
