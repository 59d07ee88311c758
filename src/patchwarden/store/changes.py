"""Change records: create, read, and update them with a revision check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from patchwarden.domain.change import ChangeRecord
from patchwarden.store.tables import Change, Plan, as_utc
from patchwarden.store.values import as_json

__all__ = [
    "StaleChange",
    "create_change",
    "get_change",
    "list_changes",
    "update_change",
]


class StaleChange(ValueError):
    """Someone else changed the record since it was read; read it again and retry."""


def _record(row: Change) -> ChangeRecord:
    return ChangeRecord.model_validate({**row.data, "id": row.id, "revision": row.revision})


def create_change(session: Session, record: ChangeRecord, now: datetime) -> ChangeRecord:
    """Store a new change; returns it with its id and revision 1.

    Raises:
        KeyError: the plan it pins has not been saved.
    """
    if session.get(Plan, record.plan_hash) is None:
        raise KeyError(f"no plan with hash {record.plan_hash!r}; save the plan first")
    row = Change(
        campaign=record.campaign,
        plan_hash=record.plan_hash,
        state=record.state.value,
        requester=record.requester,
        emergency=record.emergency,
        revision=1,
        created_at=as_utc(record.created_at),
        updated_at=as_utc(now),
        data={},
    )
    session.add(row)
    session.flush()
    stored = record.model_copy(update={"id": row.id, "revision": 1})
    row.data = as_json(stored.model_dump(mode="json"), "change record")
    session.flush()
    return stored


def get_change(session: Session, change_id: int) -> ChangeRecord | None:
    """The change with this id, or ``None``."""
    row = session.get(Change, change_id)
    return None if row is None else _record(row)


def list_changes(
    session: Session, campaign: str | None = None, plan_hash: str | None = None
) -> list[ChangeRecord]:
    """Changes, oldest first, optionally only one campaign's or one plan's."""
    query = select(Change).order_by(Change.id)
    if campaign is not None:
        query = query.where(Change.campaign == campaign)
    if plan_hash is not None:
        query = query.where(Change.plan_hash == plan_hash)
    return [_record(row) for row in session.scalars(query)]


def update_change(session: Session, record: ChangeRecord, now: datetime) -> ChangeRecord:
    """Write ``record`` over the stored one, if nobody wrote it since ``record.revision``.

    The plan hash is part of what was approved and never changes; a changed plan needs a
    new change record.

    Raises:
        KeyError: no change has this id.
        StaleChange: the stored revision moved on.
        ValueError: the record tries to change its plan hash.
    """
    row = session.get(Change, record.id)
    if row is None:
        raise KeyError(f"no change with id {record.id}")
    if row.plan_hash != record.plan_hash:
        raise ValueError(f"CHG-{record.id} pins plan {row.plan_hash[:12]}; it cannot be re-pinned")
    stored = record.model_copy(update={"revision": record.revision + 1})
    # Compare-and-set in one statement: of two writers that read the same revision, the
    # database lets exactly one match the WHERE clause.
    result = session.execute(
        update(Change)
        .where(Change.id == record.id, Change.revision == record.revision)
        .values(
            state=stored.state.value,
            revision=stored.revision,
            updated_at=as_utc(now),
            data=as_json(stored.model_dump(mode="json"), "change record"),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult, typed as Result
        raise StaleChange(
            f"CHG-{record.id} was changed by someone else since you read it "
            f"(revision {record.revision}); look at it again and retry"
        )
    return stored
