"""Patchwarden's database: SQLite by default or PostgreSQL (psycopg 3), migrated on open.

Open it with :func:`open_store` (the URL from :func:`resolve_url`) and use the returned
:class:`Store`; every method is one transaction. Schema changes are Alembic migrations in
``migrations/versions``, applied automatically when the store opens.

Example:
    >>> import os
    >>> with open_store(resolve_url(None, os.environ)) as store:  # doctest: +SKIP
    ...     store.latest_run()
"""

from patchwarden.store.advisories import AdvisoryInput
from patchwarden.store.db import (
    ENV_VAR,
    SchemaState,
    default_url,
    open_store,
    resolve_url,
    schema_state,
    upgrade_schema,
)
from patchwarden.store.records import (
    AdvisoryRecord,
    AssessmentRecord,
    FindingRecord,
    InventoryCounts,
    InventoryRecord,
    JournalEvent,
    LeaseRecord,
    PlanRecord,
    RunRecord,
    UpsertCounts,
)
from patchwarden.store.repository import Store
from patchwarden.store.values import JsonText

__all__ = [
    "ENV_VAR",
    "AdvisoryInput",
    "AdvisoryRecord",
    "AssessmentRecord",
    "FindingRecord",
    "InventoryCounts",
    "InventoryRecord",
    "JournalEvent",
    "JsonText",
    "LeaseRecord",
    "PlanRecord",
    "RunRecord",
    "SchemaState",
    "Store",
    "UpsertCounts",
    "default_url",
    "open_store",
    "resolve_url",
    "schema_state",
    "upgrade_schema",
]
