"""A clock whose time runs faster than real time, for demos and what-if runs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

__all__ = ["ScaledClock"]


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
