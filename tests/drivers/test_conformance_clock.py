"""The wall clock of real campaigns and the simulated estate's scaled clock, one contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conformance import ClockConformance

from patchwarden.drivers.protocols import Clock
from patchwarden.drivers.real import RealClock
from patchwarden.drivers.sim.clock import ScaledClock


class TestRealClock(ClockConformance):
    @pytest.fixture
    def clock(self) -> Clock:
        return RealClock()

    @pytest.fixture
    def unit(self) -> float:
        return 0.2  # real seconds: short, yet long against a busy machine's scheduling delays


class TestScaledClock(ClockConformance):
    @pytest.fixture
    def clock(self) -> Clock:
        return ScaledClock(datetime(2026, 11, 24, 22, 0, tzinfo=UTC), speed=3000.0)

    @pytest.fixture
    def unit(self) -> float:
        return 120.0  # two minutes of virtual time: 40 ms of real time at 3000x


def test_the_scaled_clock_refuses_a_start_without_a_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ScaledClock(datetime(2026, 11, 24, 22, 0))


def test_an_idle_week_is_jumped_at_the_default_speed_and_replayed_when_watched() -> None:
    import asyncio
    import time
    from datetime import timedelta

    start = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    week = start + timedelta(days=7)

    async def idle(clock: ScaledClock) -> float:
        began = time.monotonic()
        await clock.idle_until(week, look_every=60.0)
        return time.monotonic() - began

    fast = ScaledClock(start)  # default speed: a week of waiting for a window, at once
    assert asyncio.run(idle(fast)) < 0.5 and fast.now() == week
    watched = ScaledClock(start, speed=200.0)  # watched: one engine minute per look
    asyncio.run(idle(watched))
    assert watched.now() == start + timedelta(seconds=60)
