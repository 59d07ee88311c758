"""Find the database, open it, and bring its schema up to date.

SQLite is the default so that a fresh install needs nothing else; the same code runs on
PostgreSQL given a ``postgresql+psycopg://user@host/db`` URL (psycopg 3). SQLite-specific
tuning happens only here, on the connection, never in the SQL the store emits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from patchwarden.errors import StoreError
from patchwarden.store.migrate import HEAD_REVISION, current_revision, upgrade_to_head
from patchwarden.store.repository import READ_ONLY_OPTION, Store, describe_error
from patchwarden.store.values import dumps, loads

__all__ = [
    "ENV_VAR",
    "SchemaState",
    "default_url",
    "open_store",
    "resolve_url",
    "schema_state",
    "upgrade_schema",
]

ENV_VAR = "PATCHWARDEN_DB"
"""The environment variable naming the database URL."""

_APP_NAME = "patchwarden"
_DB_FILE = "patchwarden.db"


def default_url() -> str:
    """The SQLite database in the user's data directory, creating that directory.

    Raises:
        StoreError: the directory cannot be created.
    """
    directory = Path(platformdirs.user_data_dir(_APP_NAME))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the data directory {directory}: {exc.strerror or exc}; "
            f"pass --db URL or set {ENV_VAR}"
        ) from exc
    return URL.create("sqlite", database=str(directory / _DB_FILE)).render_as_string()


def resolve_url(cli_url: str | None, environ: Mapping[str, str]) -> str:
    """The database URL to use: ``--db`` first, then ``PATCHWARDEN_DB``, then the default.

    Empty values count as unset, so ``PATCHWARDEN_DB=`` falls back to the default.

    Args:
        cli_url: The ``--db`` option, if given.
        environ: The environment (``os.environ`` in production; a dict in tests).

    Returns:
        A SQLAlchemy URL string.

    Raises:
        StoreError: the default data directory cannot be created.

    Example:
        >>> resolve_url("sqlite:///a.db", {"PATCHWARDEN_DB": "sqlite:///b.db"})
        'sqlite:///a.db'
    """
    if cli_url:
        return cli_url
    from_env = environ.get(ENV_VAR, "")
    if from_env:
        return from_env
    return default_url()


def open_store(url: str, *, clock: Callable[[], datetime] | None = None) -> Store:
    """Open the database at ``url``, migrate it to the newest schema, and wrap it in a Store.

    Migrating is idempotent and costs one query when the schema is already current.

    Args:
        url: A SQLAlchemy URL, e.g. from :func:`resolve_url`.
        clock: Returns "now" (aware) for timestamps the store fills in; tests pin it.

    Returns:
        An open store; close it (or use it as a context manager) when done.

    Raises:
        StoreError: the URL is invalid, the database cannot be opened or written, or its
            schema cannot be migrated. The message says which database and why.
    """
    shown = _display(url)
    engine = _engine_or_error(url, shown)
    try:
        with engine.connect() as connection:
            upgrade_to_head(connection)
            connection.commit()
    except StoreError as exc:
        engine.dispose()
        raise StoreError(f"cannot open the database at {shown}: {exc}") from exc
    except (SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise StoreError(f"cannot open the database at {shown}: {_reason(exc, engine)}") from exc
    return Store(engine, clock=clock)


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands: before and after an upgrade, or as read.

    ``before`` is ``None`` for a database never migrated; ``after`` equals ``head`` once
    the schema is current.
    """

    url: str  # as it is safe to show: no password
    backend: str  # "sqlite" or "postgresql"
    before: str | None
    after: str | None
    head: str

    @property
    def current(self) -> bool:
        """Whether the schema is at the newest revision this patchwarden knows."""
        return self.after == self.head


def upgrade_schema(url: str) -> SchemaState:
    """Migrate the database at ``url`` to the newest schema; say what it was and is.

    What :func:`open_store` does on every open, done on its own: for a shared PostgreSQL
    database, run once by whoever deploys a new patchwarden (several processes migrating
    at once take turns, so running it twice is harmless too).

    Raises:
        StoreError: as :func:`open_store`.
    """
    return _schema(url, migrate=True)


def schema_state(url: str) -> SchemaState:
    """The revision the database at ``url`` is at, without changing it.

    Raises:
        StoreError: the URL is invalid or the database cannot be read.
    """
    return _schema(url, migrate=False)


def _schema(url: str, *, migrate: bool) -> SchemaState:
    shown = _display(url)
    engine = _engine_or_error(url, shown)
    try:
        with engine.connect() as connection:
            before = current_revision(connection)
            after = before
            if migrate:
                upgrade_to_head(connection)
                connection.commit()
                after = current_revision(connection)
    except StoreError as exc:
        raise StoreError(f"cannot open the database at {shown}: {exc}") from exc
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the database at {shown}: {_reason(exc, engine)}") from exc
    finally:
        engine.dispose()
    return SchemaState(shown, engine.dialect.name, before, after, HEAD_REVISION)


def _engine_or_error(url: str, shown: str) -> Engine:
    try:
        return _create_engine(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid database URL {shown}: {exc}") from exc
    except ImportError as exc:
        raise StoreError(f"no database driver installed for {shown}: {exc}") from exc


def _display(url: str) -> str:
    """The URL as it is safe to show: no password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return repr(url)


def _reason(exc: BaseException, engine: Engine) -> str:
    """A one-line reason for a failure to open, with a hint for the usual SQLite causes."""
    reason = describe_error(exc)
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        if "unable to open" in reason or "readonly" in reason:
            folder = Path(database).parent if database else Path.cwd()
            reason += f" (check that {folder} exists and is writable)"
        elif "not a database" in reason:
            reason += f" ({database} is some other file; pass another --db or {ENV_VAR})"
    return reason


def _create_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite connections set up for safe concurrent use."""
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if in_memory:
        # One shared connection: an in-memory database lives and dies with its connection,
        # so every thread must see the one that was migrated.
        engine = create_engine(
            parsed,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=dumps,
            json_deserializer=loads,
        )
    elif parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, json_serializer=dumps, json_deserializer=loads)
    else:
        # A database server restarted (or failed over) leaves the pool's connections dead:
        # test each before use, so a long-lived worker carries on instead of failing once
        # per pooled connection.
        engine = create_engine(
            parsed, json_serializer=dumps, json_deserializer=loads, pool_pre_ping=True
        )
    if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
        _tune_sqlite(engine, in_memory=in_memory)
    return engine


def _tune_sqlite(engine: Engine, *, in_memory: bool) -> None:
    """Foreign keys, WAL and real transactions for every connection of a pysqlite engine."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module, which skips it before SELECT and DDL;
        # ``_on_begin`` emits it instead, so every transaction really is one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                # WAL lets readers run beside the writer. NORMAL sync in WAL mode survives
                # a crash of patchwarden; a power cut may lose the last commits but never
                # corrupts the file, and it spares an fsync on every journal append.
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")  # readers never wait for the writer in WAL
        else:
            # IMMEDIATE takes the write lock up front: a transaction that reads then writes
            # (seq = max + 1) waits for other writers instead of failing half-way.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
