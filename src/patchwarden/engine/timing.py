"""When new work may start: maintenance windows and soak times, as durable waits.

Pure: ``now`` comes in as a value and windows through a :class:`WindowCalendar` (the
service hands in one built from the plan's windows), so the machine stays free of clocks
and scheduling libraries.

A wait is a journal record (``wait/<batch>`` or ``soak/<env>``, event ``waiting``, payload
``until`` and ``reason``), written before the runner sleeps. Replaying the journal after a
``kill -9`` gives back the same instant to wait for: the soak of an environment is measured
from when the machine first saw that environment finished, not from the resume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from patchwarden.domain.window import format_duration

__all__ = [
    "WAITING",
    "PromotionCheck",
    "Timing",
    "Wait",
    "WindowCalendar",
    "recorded_waits",
    "soak_wait",
    "window_wait",
]

WAITING = "waiting"
"""The journal event of a wait."""


class WindowCalendar(Protocol):
    """Where a window's openings fall (``planning.windows.PlanCalendar`` implements it)."""

    def next_start(self, window: str, env: str, at: datetime) -> datetime | None:
        """The first instant at or after ``at`` when a new unit may start in ``window``.

        That is ``at`` itself inside an opening before its cutoff, else the start of the
        next opening; ``None`` when none opens within the look-ahead horizon.
        """
        ...


@dataclass(frozen=True)
class Timing:
    """What the machine needs to gate new work on time (see ``machine.evaluate``)."""

    now: datetime
    calendar: WindowCalendar | None = None
    """The plan's windows; ``None``: no window governs the run."""
    emergency: bool = False
    """An approved emergency change: windows do not hold new work (soak still does)."""
    live: bool = True
    """``False`` when replaying a journal (status): only journaled waits count."""


@dataclass(frozen=True)
class Wait:
    """What the run waits for, and until when (``None``: no opening in sight)."""

    id: str
    until: datetime | None
    reason: str
    recorded: bool = True
    """Already in the journal; ``False`` for a wait the runner must journal first."""

    def payload(self) -> dict[str, Any]:
        """The journal record's payload."""
        until = self.until.isoformat() if self.until is not None else None
        return {"until": until, "reason": self.reason}


@dataclass(frozen=True)
class PromotionCheck:
    """The QA gate of environment ``env``: did ``previous`` hold after its soak?

    Journaled as the pseudo-step ``gate/<env>`` (started, then succeeded or failed), and
    carried out by the runner's gate checker: health now, no restart loop, a re-scan of the
    targets showing the planned versions installed (the targeted findings gone).
    """

    id: str
    env: str
    previous: str
    units: tuple[str, ...]
    """The units of ``previous`` whose targets the check looks at again."""


def recorded_waits(records: Iterable[Any]) -> dict[str, Wait]:
    """The latest journaled wait of each id (records with event ``waiting``).

    Example:
        >>> from patchwarden.engine.machine import Record
        >>> r = Record("soak/qa", "waiting", {"until": "2026-12-05T02:00:00+00:00",
        ...                                    "reason": "soaking qa"})
        >>> recorded_waits([r])["soak/qa"].until.isoformat()
        '2026-12-05T02:00:00+00:00'
    """
    waits: dict[str, Wait] = {}
    for rec in records:
        if rec.event != WAITING:
            continue
        until = rec.payload.get("until")
        when = datetime.fromisoformat(until) if isinstance(until, str) else None
        waits[rec.step_id] = Wait(rec.step_id, when, str(rec.payload.get("reason", "")))
    return waits


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%MZ") if t.utcoffset() == timedelta(0) else t.isoformat()


def window_wait(
    batch: str,
    label: str,
    window: str,
    env: str,
    earliest: datetime,
    timing: Timing,
    recorded: Mapping[str, Wait],
) -> Wait | None:
    """The wait before a new unit of ``batch`` may start at ``now``, or ``None`` to start.

    Rule: a unit starts only at or after its batch's planned start (``earliest``, what the
    change approved), inside an opening of its window, before the window's cutoff. A wait
    already journaled for the batch stands until its instant; after it, the calendar is
    asked again (a cutoff may have passed meanwhile: the rest goes to the next opening).
    An approved emergency change starts outside windows; a replay (``timing.live`` false)
    only reports the journaled wait.

    Example:
        >>> from datetime import UTC
        >>> class Saturdays:
        ...     def next_start(self, window, env, at):
        ...         return datetime(2026, 12, 5, 2, tzinfo=UTC)
        >>> t = datetime(2026, 12, 3, 10, tzinfo=UTC)
        >>> live = Timing(t, Saturdays())
        >>> window_wait("p#3", "batch 3", "prod-sat", "prod", t, live, {}).reason
        'waiting for window prod-sat 2026-12-05T02:00Z (batch 3)'
    """
    wait_id = f"wait/{batch}"
    known = recorded.get(wait_id)
    now = timing.now
    if known is not None and (now < known.until if known.until else not timing.live):
        return known
    if not timing.live or timing.emergency or timing.calendar is None:
        return None
    start = timing.calendar.next_start(window, env, max(now, earliest))
    if start is not None and start <= now:
        return None
    if start is None:
        reason = f"no opening of window {window} within the look-ahead ({label})"
    else:
        reason = f"waiting for window {window} {_stamp(start)} ({label})"
    if known is not None and known.until == start and known.reason == reason:
        return known
    return Wait(wait_id, start, reason, recorded=False)


def soak_wait(
    env: str, soak: timedelta, timing: Timing, recorded: Mapping[str, Wait]
) -> Wait | None:
    """The soak of finished environment ``env`` before the next one starts, if still due.

    The soak ends ``soak`` after the first time the machine saw ``env`` finished (the
    journaled wait keeps that instant across restarts); ``None`` once it has passed.

    Example:
        >>> from datetime import UTC
        >>> t = Timing(datetime(2026, 12, 3, 10, tzinfo=UTC))
        >>> soak_wait("qa", timedelta(days=2), t, {}).reason
        'soaking qa until 2026-12-05T10:00Z (2d)'
    """
    wait_id = f"soak/{env}"
    known = recorded.get(wait_id)
    if known is not None:
        return known if known.until is not None and timing.now < known.until else None
    if not timing.live or soak <= timedelta(0):
        return None
    until = timing.now + soak
    reason = f"soaking {env} until {_stamp(until)} ({format_duration(soak)})"
    return Wait(wait_id, until, reason, recorded=False)
