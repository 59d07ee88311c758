"""The database itself: bring its schema up to date, or say where it stands.

Every command migrates the store when it opens it, so ``db upgrade`` is for deploying a new
patchwarden against a shared PostgreSQL database before its processes start (or to check a
URL and its credentials), and ``db status`` for seeing what a database holds without
changing it.
"""

from __future__ import annotations

from collections.abc import Mapping

from patchwarden.store import SchemaState, resolve_url, schema_state, upgrade_schema

__all__ = ["SchemaState", "database_status", "upgrade_database"]


def upgrade_database(url: str | None, environ: Mapping[str, str]) -> SchemaState:
    """Migrate the database (``--db``, else ``PATCHWARDEN_DB``, else the default) to head.

    Raises:
        StoreError: the URL is invalid, the server unreachable, or a migration failed.
    """
    return upgrade_schema(resolve_url(url, environ))


def database_status(url: str | None, environ: Mapping[str, str]) -> SchemaState:
    """The database's schema revision against the newest one, changing nothing.

    Raises:
        StoreError: the URL is invalid or the database cannot be read.
    """
    return schema_state(resolve_url(url, environ))
