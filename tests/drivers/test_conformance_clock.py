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
