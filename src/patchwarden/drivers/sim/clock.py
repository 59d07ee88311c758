"""A clock whose time runs faster than real time, for demos and what-if runs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

__all__ = ["WATCHED_BELOW", "ScaledClock"]


WATCHED_BELOW = 1000.0
"""Speed-ups below this replay idle waits (windows, soak) instead of jumping over them."""


class ScaledClock:
    """Virtual time that moves only when something waits, ``speed`` times faster than real.

    A five-minute reboot at ``speed=3000`` takes 0.1 s of real time. Virtual time advances
    by what the simulation waits for, never by the CPU time the engine spends in between,
    so a prediction does not grow with the machine's load: ``now()`` is the latest moment
    any waiter has reached.
    """

    def __init__(self, start: datetime, speed: float = 3000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start
        self._speed = speed

    def now(self) -> datetime:
        """Virtual now."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of virtual time."""
        wake = self._now + timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(max(0.0, seconds) / self._speed)
        self._now = max(self._now, wake)

    async def idle_until(self, when: datetime, look_every: float) -> None:
        """Jump to ``when`` while the whole simulation waits; paced when it is to be watched.

        A week-long wait for the next maintenance window would take minutes of real time
        at the default speed, and nothing in the estate changes meanwhile; so virtual time
        moves there at once (a pause pressed meanwhile is read right after the jump). Below
        :data:`WATCHED_BELOW` times real speed, someone is watching the run wait (and may
        pause, abort or kill it meanwhile), so the wait is slept in slices of
        ``look_every`` like any other.
        """
        if self._speed < WATCHED_BELOW:
            left = (when - self._now).total_seconds()
            await self.sleep(max(0.0, min(left, look_every)))
            return
        await asyncio.sleep(0)
        self._now = max(self._now, when)
