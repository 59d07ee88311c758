"""The scheduler's jobs (due time, lease, last outcome) and the audit readers' cursors.

A job is claimed by one server at a time: the claim is one ``UPDATE`` that succeeds only if
nobody holds the job or the holder's lease has run out, so two servers on one database
never run the same occurrence together, and a server that died mid-job leaves it to be
taken up again once its lease has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from patchwarden.store.tables import Cursor, ScheduledJob, as_utc
from patchwarden.store.values import as_json

__all__ = [
    "JobRecord",
    "claim_job",
    "finish_job",
    "get_cursor",
    "list_jobs",
    "set_cursor",
    "upsert_job",
]


@dataclass(frozen=True)
class JobRecord:
    """A scheduled job as stored."""

    name: str
    kind: str
    spec: dict[str, Any]
    next_at: datetime
    running_by: str | None
    running_until: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str
    last_error: str
    failures: int


def _record(row: ScheduledJob) -> JobRecord:
    return JobRecord(
        row.name, row.kind, row.spec, row.next_at, row.running_by, row.running_until,
        row.last_started_at, row.last_finished_at, row.last_status, row.last_error,
        row.failures,
    )  # fmt: skip


def upsert_job(
    session: Session, name: str, kind: str, spec: Mapping[str, Any], next_at: datetime
) -> JobRecord:
    """Add a job, or keep a stored one whose kind and spec are unchanged (its due time too).

    A job whose definition changed is due at ``next_at`` as if new; its history is kept.
    """
    data = as_json(dict(spec), f"spec of job {name!r}")
    row = session.get(ScheduledJob, name)
    if row is None:
        row = ScheduledJob(
            name=name, kind=kind, spec=data, next_at=as_utc(next_at), last_status="",
            last_error="", failures=0,
        )  # fmt: skip
        session.add(row)
    elif row.kind != kind or row.spec != data:
        row.kind, row.spec, row.next_at, row.failures = kind, data, as_utc(next_at), 0
    session.flush()
    return _record(row)


def claim_job(
    session: Session, name: str, holder: str, now: datetime, until: datetime
) -> JobRecord | None:
    """Take a due job for ``holder`` until ``until``; ``None`` if not due or held by another."""
    j = ScheduledJob
    claimed = session.execute(
        update(j)
        .where(
            j.name == name,
            j.next_at <= as_utc(now),
            or_(j.running_by.is_(None), j.running_until < as_utc(now)),
        )
        .values(running_by=holder, running_until=as_utc(until), last_started_at=as_utc(now))
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
        return None
    row = session.get(j, name, populate_existing=True)
    return None if row is None else _record(row)


def finish_job(
    session: Session,
    name: str,
    holder: str,
    now: datetime,
    *,
    ok: bool,
    error: str,
    next_at: datetime,
) -> JobRecord | None:
    """Record how a claimed job went and when it is due next; release it.

    ``None`` if ``holder`` no longer held it (its lease ran out and another took it).
    """
    row = session.get(ScheduledJob, name)
    if row is None or row.running_by != holder:
        return None
    row.running_by = None
    row.running_until = None
    row.last_finished_at = as_utc(now)
    row.last_status = "ok" if ok else "failed"
    row.last_error = error
    row.failures = 0 if ok else row.failures + 1
    row.next_at = as_utc(next_at)
    session.flush()
    return _record(row)


def list_jobs(session: Session) -> list[JobRecord]:
    """Every job, by name."""
    return [_record(r) for r in session.scalars(select(ScheduledJob).order_by(ScheduledJob.name))]


def get_cursor(session: Session, name: str) -> int | None:
    """A reader's position, or ``None`` if it never read."""
    row = session.get(Cursor, name)
    return None if row is None else row.position


def set_cursor(session: Session, name: str, position: int) -> None:
    """Move a reader's position."""
    row = session.get(Cursor, name)
    if row is None:
        session.add(Cursor(name=name, position=position))
    else:
        row.position = position
    session.flush()
