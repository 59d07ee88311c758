"""The audit trail's rows: append one entry to the hash chain, read entries back.

Appending reads the last entry and writes the next in one write transaction, so the chain
stays a chain with several writers: SQLite's ``BEGIN IMMEDIATE`` serialises them, and on
PostgreSQL appenders take turns on an advisory lock (``store.locks``); should two ever pick
the same ``seq``, the primary key refuses the second, which tries again. There is no
method to change or remove an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patchwarden.domain.audit import GENESIS, AuditEntry, entry_hash
from patchwarden.errors import StoreError
from patchwarden.store.locks import take_turn
from patchwarden.store.tables import AuditRow, as_utc
from patchwarden.store.values import as_json

__all__ = ["AuditFilter", "AuditNote", "AuditTrail", "append_entry", "retry_collisions"]

Transact = Callable[[str, bool], AbstractContextManager[Session]]

_ATTEMPTS = 5

T = TypeVar("T")


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        object_hash=row.object_hash,
        source=row.source,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@dataclass(frozen=True)
class AuditFilter:
    """Which entries :meth:`AuditTrail.entries` returns; ``None`` fields do not filter.

    ``action`` is a prefix (``change.`` matches every change action); ``since`` is
    inclusive, ``until`` exclusive, both aware.
    """

    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0
    """Only entries with a greater ``seq`` (a reader carrying on where it stopped)."""


@dataclass(frozen=True)
class AuditNote:
    """An entry to append in the same transaction as the change of state it records.

    Store methods that change state take one (``audit=``): the change and its entry
    commit together or not at all, so the trail never misses a change nor names one that
    did not happen.
    """

    actor: str
    action: str
    object_type: str
    object_id: str
    object_hash: str = ""
    source: str = ""
    details: Mapping[str, Any] | None = None


def append_entry(session: Session, note: AuditNote, at: datetime) -> AuditEntry:
    """Append ``note`` to the chain in the caller's transaction; returns the entry.

    Raises:
        ValueError: ``details`` is not JSON, or ``at`` is naive.
    """
    data = as_json(dict(note.details or {}), "audit details")
    take_turn(session, "audit")  # appenders take turns on PostgreSQL (see the module doc)
    last = session.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
    entry = AuditEntry(
        seq=(last.seq + 1) if last else 1,
        at=as_utc(at),
        actor=note.actor,
        action=note.action,
        object_type=note.object_type,
        object_id=note.object_id,
        object_hash=note.object_hash,
        source=note.source,
        details=data,
        prev_hash=last.hash if last else GENESIS,
    )
    entry = entry.model_copy(update={"hash": entry_hash(entry)})
    session.add(AuditRow(**entry.model_dump()))
    session.flush()
    return entry


def retry_collisions(attempt: Callable[[], T]) -> T:
    """Run one write transaction, again if a racing appender took the same ``seq``.

    On PostgreSQL two appenders can pick the same ``seq``; the primary key refuses the
    second, whose transaction rolled back whole, so it simply runs again.
    """
    for tries in range(_ATTEMPTS):
        try:
            return attempt()
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError) or tries == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class AuditTrail:
    """The audit trail of one store; get it as ``store.audit``."""

    def __init__(self, transact: Transact, now: Callable[[], datetime]) -> None:
        self._transact = transact
        self._now = now

    def append(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        *,
        object_hash: str = "",
        source: str = "",
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Append one entry, linked to the last; returns it with its ``seq`` and ``hash``.

        Raises:
            ValueError: ``details`` is not JSON, or ``at`` is naive.
            StoreError: the database refused the write.
        """
        when = as_utc(at or self._now())
        note = AuditNote(actor, action, object_type, object_id, object_hash, source, details)
        as_json(dict(details or {}), "audit details")  # refused before any transaction

        def attempt() -> AuditEntry:
            with self._transact("append to the audit trail", True) as session:
                return append_entry(session, note, when)

        return retry_collisions(attempt)

    def entries(self, where: AuditFilter | None = None) -> list[AuditEntry]:
        """Entries in stored order (by ``seq``), filtered as ``where`` says."""
        f = where or AuditFilter()
        query = select(AuditRow).order_by(AuditRow.seq)
        if f.actor:
            query = query.where(AuditRow.actor == f.actor)
        if f.action:
            query = query.where(AuditRow.action.startswith(f.action, autoescape=True))
        if f.object_type:
            query = query.where(AuditRow.object_type == f.object_type)
        if f.object_id:
            query = query.where(AuditRow.object_id == f.object_id)
        if f.since:
            query = query.where(AuditRow.at >= as_utc(f.since))
        if f.until:
            query = query.where(AuditRow.at < as_utc(f.until))
        if f.after:
            query = query.where(AuditRow.seq > f.after)
        with self._transact("read the audit trail", False) as session:
            return [_entry(r) for r in session.scalars(query)]

    def last(self) -> AuditEntry | None:
        """The newest entry, or ``None`` for an empty trail."""
        with self._transact("read the audit trail", False) as session:
            row = session.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
            return None if row is None else _entry(row)
