"""Run leases: which process drives a run, until when (see ``tables.RunLease``).

Taking a lease is one conditional ``UPDATE`` (or the first ``INSERT``) in the caller's
transaction, so two processes racing for the same run cannot both win, on SQLite (whose
write transactions are serial) as on PostgreSQL (where the loser of two ``INSERT`` races
hits the primary key and reads the winner).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from patchwarden.store.records import LeaseRecord
from patchwarden.store.tables import Run, RunLease, as_utc

__all__ = ["get_lease", "release_lease", "renew_lease", "take_lease"]


def get_lease(session: Session, run_id: str) -> LeaseRecord | None:
    """The run's lease as stored (it may have expired), or ``None``."""
    row = session.get(RunLease, run_id)
    if row is None:
        return None
    return LeaseRecord(row.run_id, row.holder, row.acquired_at, row.expires_at)


def take_lease(
    session: Session,
    run_id: str,
    holder: str,
    now: datetime,
    expires_at: datetime,
    take_over: str | None,
) -> LeaseRecord:
    """Hold the run until ``expires_at`` unless someone else holds it; returns the lease.

    The returned lease names its holder: ``holder`` if it was taken (or renewed), another
    process if that one holds an unexpired lease. ``take_over`` names a holder known to be
    gone, whose lease may be taken before it expires.

    Raises:
        KeyError: no run has this id.
    """
    if session.get(Run, run_id) is None:
        raise KeyError(f"no run with id {run_id!r}")
    now, expires_at = as_utc(now), as_utc(expires_at)
    row = session.get(RunLease, run_id)
    if row is None:
        row = RunLease(run_id=run_id, holder=holder, acquired_at=now, expires_at=expires_at)
        session.add(row)
        session.flush()
    else:
        free = [RunLease.holder == holder, RunLease.expires_at < now]
        if take_over is not None:
            free.append(RunLease.holder == take_over)
        session.execute(
            update(RunLease)
            .where(RunLease.run_id == run_id, or_(*free))
            .values(holder=holder, acquired_at=now, expires_at=expires_at)
            .execution_options(synchronize_session=False)
        )
        session.refresh(row)
    return LeaseRecord(row.run_id, row.holder, row.acquired_at, row.expires_at)


def renew_lease(session: Session, run_id: str, holder: str, expires_at: datetime) -> bool:
    """Move the expiry of ``holder``'s lease; ``False`` if it no longer holds the run."""
    result = session.execute(
        update(RunLease)
        .where(RunLease.run_id == run_id, RunLease.holder == holder)
        .values(expires_at=as_utc(expires_at))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # execute() returns a CursorResult, typed as Result


def release_lease(session: Session, run_id: str, holder: str) -> bool:
    """Give the run up; ``False`` if ``holder`` did not hold it (nothing is changed)."""
    result = session.execute(
        delete(RunLease)
        .where(RunLease.run_id == run_id, RunLease.holder == holder)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE
