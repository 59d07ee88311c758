"""Runs read back from the store: the approved plan, the journal, and what it shows.

Every reader of a run (``status``, reports, promotion gates, the risk model's "failed in an
earlier environment") goes through :func:`trace_run`, which replays the journal with the
run's own control (:func:`patchwarden.engine.lifecycle.replay`), so they all agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from patchwarden.domain.plan import Plan
from patchwarden.engine.lifecycle import RunState, replay
from patchwarden.engine.machine import Progress, Record
from patchwarden.errors import InputError
from patchwarden.store import RunRecord, Store

__all__ = ["RunTrace", "load_plan", "run_state", "stored_plan", "trace_run"]


@dataclass(frozen=True)
class RunTrace:
    """A run: its plan, journal records with their times, and the replayed progress."""

    plan: Plan
    records: Sequence[Record]
    times: Sequence[datetime]
    progress: Progress
    state: str
    in_flight: frozenset[str] = field(default=frozenset())
    """Steps started and not finished when the journal was read."""


def run_state(run: RunRecord) -> RunState:
    """The run's stored state as a :class:`RunState`.

    Raises:
        InputError: the store holds a state this version does not know.
    """
    try:
        return RunState(run.state)
    except ValueError:
        known = ", ".join(RunState)
        raise InputError(
            f"run {run.id}: unknown state {run.state!r} in the store (known: {known})"
        ) from None


def stored_plan(store: Store, plan_hash: str, owner: str) -> Plan:
    """The plan stored under ``plan_hash``, checked against it; ``owner`` names who asks.

    Raises:
        InputError: the plan is missing or its content does not match the hash.
    """
    record = store.get_plan(plan_hash)
    if record is None:
        raise InputError(f"{owner}: its plan {plan_hash[:12]} is not in the store")
    plan = Plan.model_validate(record.data)
    if plan.digest() != plan_hash:
        raise InputError(f"{owner}: the stored plan does not match its hash; refusing to run it")
    return plan


def load_plan(store: Store, run: RunRecord) -> Plan:
    """The plan a run executes, as approved and stored (see :func:`stored_plan`)."""
    return stored_plan(store, run.plan_hash, f"run {run.id}")


def trace_run(store: Store, run: RunRecord, plan: Plan | None = None) -> RunTrace:
    """Read a run's journal and replay it with the run's control (``plan`` if already read)."""
    plan = plan or load_plan(store, run)
    events = store.events(run.id)
    records = [Record(e.step_id, e.event, e.payload) for e in events]
    # The run's own "now" is its latest record: a wait journaled then and not over by then
    # is what the run still waits for (on the simulated clock as on the real one).
    latest = max((e.at for e in events), default=None)
    replayed = replay(plan, records, run_state(run), latest)
    return RunTrace(
        plan, records, [e.at for e in events], replayed.progress, run.state, replayed.in_flight
    )
