"""A run releases what its drivers opened when it stops, in the event loop they ran in.

A real run's drivers hold SSH connections to every host; the server drives run after run
in one process, so each run's connections are closed when its runner stops (ended or
paused), not left to the process's exit.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchwarden.service.execution import begin_apply, carry_out
from patchwarden.service.runs import RunState
from patchwarden.store import open_store

CAMPAIGN = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-campaign.yaml"


def test_a_run_closes_its_drivers_once_in_the_loop_that_drove_it(tmp_path: Path) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def close() -> None:
        loops.append(asyncio.get_running_loop())

    now = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        setup = begin_apply(
            store, CAMPAIGN, [], sim=True, seed=7, speed=100_000.0, now=now, user="alice"
        )
        setup = dataclasses.replace(setup, close=close)
        state = carry_out(store, setup, "alice")
    assert state is RunState.COMPLETED
    assert len(loops) == 1
    assert loops[0].is_closed()  # it ran inside the runner's loop, which has ended since


class _BrokenClock:
    """A clock that fails on first use: the runner stops with an error mid-run."""

    def now(self) -> datetime:
        raise OSError("the clock is gone")

    async def sleep(self, seconds: float) -> None:
        raise OSError("the clock is gone")

    async def idle_until(self, when: datetime, look_every: float) -> None:
        raise OSError("the clock is gone")


def test_a_runner_that_fails_still_closes_its_drivers(tmp_path: Path) -> None:
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    now = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        setup = begin_apply(
            store, CAMPAIGN, [], sim=True, seed=7, speed=100_000.0, now=now, user="alice"
        )
        drivers = dataclasses.replace(setup.drivers, clock=_BrokenClock())
        setup = dataclasses.replace(setup, drivers=drivers, close=close)
        with pytest.raises(OSError, match="the clock is gone"):
            carry_out(store, setup, "alice")
    assert closed == [True]
