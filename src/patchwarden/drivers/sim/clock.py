"""A clock whose time runs faster than real time, for demos and what-if runs."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

__all__ = ["ScaledClock"]


class ScaledClock:
    """Virtual time running ``speed`` times faster than the wall clock.

    A five-minute reboot at ``speed=3000`` takes 0.1 s of real time, so a whole campaign
    over a simulated estate runs in seconds while its timeline reads like the real thing.
    """

    def __init__(self, start: datetime, speed: float = 3000.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start
        self._speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """Virtual now."""
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of virtual time."""
        await asyncio.sleep(max(0.0, seconds) / self._speed)
