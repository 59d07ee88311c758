"""Plans, runs of plans, and each run's append-only journal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.orm import Session

from patchwarden.store.records import JournalEvent, PlanRecord, RunRecord
from patchwarden.store.tables import JournalEntry, Plan, Run, as_utc
from patchwarden.store.values import as_json

__all__ = [
    "append_event",
    "create_run",
    "events",
    "get_plan",
    "get_run",
    "latest_run",
    "save_plan",
    "set_run_state",
    "set_run_summary",
]


def save_plan(
    session: Session, plan_hash: str, name: str, data: Mapping[str, Any], now: datetime
) -> bool:
    """Store a plan unless one with this hash exists; ``True`` if it was new.

    The hash names the content, so an existing row already holds this plan.

    Raises:
        ValueError: the hash is empty or longer than 64 characters (PostgreSQL would refuse
            it and SQLite would not, so it is checked here for both).
    """
    if not 0 < len(plan_hash) <= 64:
        raise ValueError(f"plan hash must be 1 to 64 characters, got {len(plan_hash)}")
    if session.get(Plan, plan_hash) is not None:
        return False
    session.add(Plan(hash=plan_hash, created_at=now, name=name, data=as_json(dict(data), "plan")))
    session.flush()
    return True


def get_plan(session: Session, plan_hash: str) -> PlanRecord | None:
    """The plan with this hash, or ``None``."""
    plan = session.get(Plan, plan_hash)
    return None if plan is None else PlanRecord(plan.hash, plan.created_at, plan.name, plan.data)


def _run_record(run: Run) -> RunRecord:
    return RunRecord(run.id, run.plan_hash, run.state, run.started_at, run.finished_at, run.summary)


def create_run(
    session: Session, run_id: str, plan_hash: str, state: str, started_at: datetime
) -> RunRecord:
    """Start a run of a stored plan.

    Raises:
        KeyError: no plan has this hash.
        ValueError: the run id is empty or longer than 32 characters.
    """
    if not 0 < len(run_id) <= 32:
        raise ValueError(f"run id must be 1 to 32 characters, got {run_id!r}")
    if session.get(Plan, plan_hash) is None:
        raise KeyError(f"no plan with hash {plan_hash!r}")
    run = Run(id=run_id, plan_hash=plan_hash, state=state, started_at=as_utc(started_at))
    session.add(run)
    session.flush()
    return _run_record(run)


def set_run_state(
    session: Session,
    run_id: str,
    state: str,
    finished_at: datetime | None,
    summary: Mapping[str, Any] | None,
) -> RunRecord:
    """Move a run to ``state``; ``finished_at`` and ``summary`` are set only when given.

    Raises:
        KeyError: no run has this id.
    """
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run with id {run_id!r}")
    run.state = state
    if finished_at is not None:
        run.finished_at = as_utc(finished_at)
    if summary is not None:
        run.summary = as_json(dict(summary), "run summary")
    session.flush()
    return _run_record(run)


def set_run_summary(session: Session, run_id: str, summary: Mapping[str, Any]) -> RunRecord:
    """Replace the run's summary and nothing else (its state is a person's to move).

    Raises:
        KeyError: no run has this id.
    """
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run with id {run_id!r}")
    run.summary = as_json(dict(summary), "run summary")
    session.flush()
    return _run_record(run)


def get_run(session: Session, run_id: str) -> RunRecord | None:
    """The run with this id, or ``None``."""
    run = session.get(Run, run_id)
    return None if run is None else _run_record(run)


def latest_run(session: Session) -> RunRecord | None:
    """The run started last (ties broken by id, so the answer is stable), or ``None``."""
    query = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(1)
    run = session.scalars(query).first()
    return None if run is None else _run_record(run)


# Built once: building a statement costs more than running it on SQLite, and the journal
# is written before and after every step (measured with the overhead bench's profile).
_LAST_SEQ = select(func.max(JournalEntry.seq)).where(JournalEntry.run_id == bindparam("run_id"))
_RUN_EXISTS = select(Run.id).where(Run.id == bindparam("run_id"))
_LOCK_RUN = _RUN_EXISTS.with_for_update()
_APPEND = insert(JournalEntry)


def append_event(
    connection: Connection,
    run_id: str,
    step_id: str,
    event: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> int:
    """Append one event to a run's journal in the caller's transaction; returns its seq.

    Plain Core statements on a connection, not the ORM: the engine journals before and
    after every side effect, so this is the hottest write path of the store.

    Raises:
        KeyError: no run has this id.
        ValueError: naive ``at`` or a payload that is not JSON.
    """
    row = {
        "run_id": run_id,
        "at": as_utc(at),
        "step_id": step_id,
        "event": event,
        "payload": as_json(dict(payload), f"payload of {event!r}"),
    }
    # Elsewhere than SQLite writers run side by side (READ COMMITTED): lock the run's row
    # so appenders of one run take turns and each reads the seq the one before it wrote.
    # SQLite needs no lock: its write transactions are serial already (BEGIN IMMEDIATE).
    locked = connection.dialect.name != "sqlite"
    if locked and connection.scalar(_LOCK_RUN, {"run_id": run_id}) is None:
        raise KeyError(f"no run with id {run_id!r}")
    last = connection.scalar(_LAST_SEQ, {"run_id": run_id})
    if last is None and connection.scalar(_RUN_EXISTS, {"run_id": run_id}) is None:
        # Checked only for a run's first event: later ones prove the run exists.
        raise KeyError(f"no run with id {run_id!r}")
    seq = (last or 0) + 1
    connection.execute(_APPEND, {**row, "seq": seq})
    return seq


def events(connection: Connection, run_id: str, after: int = 0) -> list[JournalEvent]:
    """A run's journal in order of ``seq``, from the event after ``after``."""
    j = JournalEntry
    query = select(j.run_id, j.seq, j.at, j.step_id, j.event, j.payload)
    query = query.where(j.run_id == run_id, j.seq > after)
    rows = connection.execute(query.order_by(j.seq))
    return [JournalEvent(*row) for row in rows]
