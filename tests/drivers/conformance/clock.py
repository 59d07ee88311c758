"""Conformance of clocks: the engine's only source of time, real or simulated.

The engine reads ``now()`` to journal and to time out steps, and ``sleep()`` to wait for
reboots, soaks and drains. Whatever clock a runner is handed (the wall clock of real
campaigns, the scaled clock of the simulated estate, a test's own), these must hold or a
timeout fires early, a soak ends before it began, or a journal goes back in time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from patchwarden.drivers.protocols import Clock

# Wall clocks may be stepped by a few milliseconds between two readings (NTP slews);
# a clock's promises are checked to this tolerance.
SLACK = timedelta(milliseconds=5)


class ClockConformance:
    """Fixtures: ``clock`` (a fresh :class:`Clock`) and ``unit`` (seconds of that clock's
    time that pass in well under a second of real time)."""

    def test_it_is_a_clock(self, clock: Clock) -> None:
        assert isinstance(clock, Clock)

    def test_now_is_aware_and_in_utc(self, clock: Clock) -> None:
        now = clock.now()
        assert now.tzinfo is not None
        assert now.utcoffset() == timedelta(0)

    def test_now_never_goes_back(self, clock: Clock, unit: float) -> None:
        async def watch() -> list[timedelta]:
            readings = [clock.now()]
            for _ in range(5):
                await clock.sleep(unit / 5)
                readings.append(clock.now())
                readings.append(clock.now())
            return [b - a for a, b in zip(readings, readings[1:], strict=False)]

        assert all(step >= -SLACK for step in asyncio.run(watch()))

    def test_a_sleep_lasts_at_least_what_was_asked(self, clock: Clock, unit: float) -> None:
        async def sleep() -> timedelta:
            before = clock.now()
            await clock.sleep(unit)
            return clock.now() - before

        assert asyncio.run(sleep()) >= timedelta(seconds=unit) - SLACK

    def test_a_sleep_of_nothing_or_less_returns_at_once(self, clock: Clock) -> None:
        async def sleep() -> float:
            started = time.monotonic()
            await clock.sleep(0)
            await clock.sleep(-5)
            return time.monotonic() - started

        before = clock.now()
        assert asyncio.run(sleep()) < 0.5
        assert clock.now() >= before - SLACK

    def test_concurrent_sleepers_wake_shortest_first_and_all_wake(
        self, clock: Clock, unit: float
    ) -> None:
        woke: list[int] = []

        async def sleeper(n: int) -> None:
            await clock.sleep(unit * n)
            woke.append(n)

        async def race() -> timedelta:
            before = clock.now()
            await asyncio.gather(sleeper(3), sleeper(1), sleeper(2))
            return clock.now() - before

        elapsed = asyncio.run(race())
        assert woke == [1, 2, 3]
        # Sleeping side by side: the longest sleep, not the sum (within a generous bound).
        assert timedelta(seconds=3 * unit) - SLACK <= elapsed < timedelta(seconds=6 * unit)

    def test_waiting_on_the_clock_costs_little_real_time(self, clock: Clock, unit: float) -> None:
        started = time.monotonic()
        asyncio.run(clock.sleep(unit))
        assert time.monotonic() - started < 2.0

    def test_idling_ends_between_one_look_and_the_instant_waited_for(
        self, clock: Clock, unit: float
    ) -> None:
        async def idle() -> tuple[timedelta, timedelta]:
            before = clock.now()
            await clock.idle_until(before + timedelta(seconds=3 * unit), look_every=unit)
            after = clock.now()
            started = time.monotonic()
            await clock.idle_until(after - timedelta(seconds=unit), look_every=unit)  # passed
            return after - before, timedelta(seconds=time.monotonic() - started)

        idled, past = asyncio.run(idle())
        # A real clock looks again after one slice; a virtual one may jump to the instant.
        assert timedelta(seconds=unit) - SLACK <= idled <= timedelta(seconds=3 * unit) + SLACK
        assert past < timedelta(seconds=0.5)
