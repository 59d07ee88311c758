"""Where the runner writes what it does, before and after each side effect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from patchwarden.engine.machine import Record

__all__ = ["Journal", "MemoryJournal"]


class Journal(Protocol):
    """Append-only record of a run; ``records`` replays it."""

    def append(self, step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Append one record durably before returning."""
        ...

    def records(self) -> Sequence[Record]:
        """Every record so far, in order."""
        ...


class MemoryJournal:
    """A journal in memory: for tests and what-if runs that need no store."""

    def __init__(self) -> None:
        self._records: list[Record] = []
        self.times: list[datetime] = []

    def append(self, step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Keep the record."""
        self._records.append(Record(step_id, event, dict(payload)))
        self.times.append(at)

    def records(self) -> Sequence[Record]:
        """Every record so far."""
        return tuple(self._records)
