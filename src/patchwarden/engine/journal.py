"""Where the runner writes what it does, before and after each side effect."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from patchwarden.engine.machine import Record

__all__ = ["Journal", "MemoryJournal", "journal_record"]


class Journal(Protocol):
    """Append-only record of a run; ``records`` replays it.

    Every journal keeps what :func:`journal_record` makes of an append, so what the engine
    reads back is the same whether the run goes on or is resumed from a store.
    """

    def append(self, step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Append one record durably before returning.

        Raises:
            ValueError: the payload is not JSON data, or ``at`` has no time zone; nothing
                is appended.
        """
        ...

    def records(self) -> Sequence[Record]:
        """Every record so far, in order."""
        ...


def journal_record(step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> Record:
    """The record a journal keeps: the payload as the JSON data a store would give back.

    The round trip through JSON text copies the payload (a caller reusing its dict changes
    nothing) and turns tuples into lists, as reading a store does.

    Example:
        >>> from datetime import UTC
        >>> journal_record("s1", "started", {"pair": ("a", 1)}, datetime.now(UTC)).payload
        {'pair': ['a', 1]}

    Raises:
        ValueError: ``payload`` is not JSON data (NaN included), or ``at`` has no time zone.
    """
    if at.utcoffset() is None:
        raise ValueError(f"{event!r} at {at.isoformat()}: a journal time needs a time zone")
    try:
        data = json.loads(json.dumps(dict(payload), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"payload of {event!r} is not JSON data: {error}") from error
    return Record(step_id, event, data)


class MemoryJournal:
    """A journal in memory: for tests and what-if runs that need no store."""

    def __init__(self) -> None:
        self._records: list[Record] = []
        self.times: list[datetime] = []

    def append(self, step_id: str, event: str, payload: Mapping[str, Any], at: datetime) -> None:
        """Keep the record (see :func:`journal_record`)."""
        self._records.append(journal_record(step_id, event, payload, at))
        self.times.append(at)

    def records(self) -> Sequence[Record]:
        """Every record so far."""
        return tuple(self._records)
