"""A journal kept in the store: every record committed before the runner goes on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from patchwarden.engine.journal import journal_record
from patchwarden.engine.machine import Record
from patchwarden.store import Store

__all__ = ["StoreJournal"]


class StoreJournal:
    """Journal of one run in the store, with an in-memory copy for fast replays."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        events = store.events(run_id)  # resuming: replay what is already there
        self._records = [Record(e.step_id, e.event, e.payload) for e in events]
        self.times = [e.at for e in events]

    def append(self, step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Commit the record, then remember it as a reopened journal would read it."""
        record = journal_record(step_id, event, payload, at)
        self.store.append_event(self.run_id, step_id, event, record.payload, at)
        self._records.append(record)
        self.times.append(at)

    def records(self) -> Sequence[Record]:
        """Every record of the run so far."""
        return tuple(self._records)
