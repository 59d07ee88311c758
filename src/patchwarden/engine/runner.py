"""The async runner: asks the machine what to do, does it through drivers, journals it.

Every side effect is bracketed by journal records: ``started`` before, ``succeeded`` or
``failed`` after (``observed`` in between, for what a step saw before acting). Killing the
runner at any moment and starting it again on the same journal resumes the campaign.

When the machine says the run waits (a maintenance window, a soak), the runner journals the
wait first, then idles on the engine's clock (``Clock.idle_until``): a real clock in slices
of ``wait_poll_s`` so that a person's pause or abort is read while it waits, the simulated
estate's clock in one jump. Promotion gates the machine asks for are
checked by a :class:`~patchwarden.engine.gates.QAGate`, bracketed like a step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from patchwarden.domain.plan import Plan
from patchwarden.drivers.protocols import Clock
from patchwarden.engine.gates import QAGate
from patchwarden.engine.journal import Journal
from patchwarden.engine.machine import Progress, Work, evaluate
from patchwarden.engine.steps import StepExecutor
from patchwarden.engine.timing import WAITING, PromotionCheck, Timing, WindowCalendar
from patchwarden.errors import DriverError, NeedsPerson, TransientDriverError

__all__ = ["RecordFn", "Runner", "run_one_step"]

ProgressCallback = Callable[[Progress], None]


class Runner:
    """Runs a plan to the end (or to its error budget) against a journal."""

    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        executor: StepExecutor,
        clock: Clock,
        on_progress: ProgressCallback | None = None,
        retry_delay_s: float = 10.0,
        control: Callable[[], str] | None = None,
        calendar: WindowCalendar | None = None,
        emergency: bool = False,
        wait_poll_s: float = 60.0,
    ) -> None:
        self.plan = plan
        self.journal = journal
        self.executor = executor
        self.clock = clock
        self.on_progress = on_progress
        self.retry_delay_s = retry_delay_s
        self.control = control or (lambda: "")
        self.poll_s = 0.05  # how often a step's timeout looks at the clock (real seconds)
        self.calendar = calendar
        self.emergency = emergency
        self.wait_poll_s = wait_poll_s  # engine-clock seconds between looks while waiting
        self.gate = QAGate(plan, executor.d)

    def _record(self, step_id: str, event: str, payload: Mapping[str, Any]) -> None:
        self.journal.append(step_id, event, payload, self.clock.now())

    async def run(self) -> Progress:
        """Run until the machine says done; returns the final progress."""
        running: dict[str, asyncio.Task[None]] = {}
        while True:
            timing = Timing(self.clock.now(), self.calendar, self.emergency)
            progress = evaluate(
                self.plan, self.journal.records(), frozenset(running), self.control(), timing
            )
            if self.on_progress is not None:
                self.on_progress(progress)
            for work in progress.runnable:
                if work.step.id not in running:
                    self._record(
                        work.step.id,
                        "started",
                        {"action": work.step.action.value, "target": work.step.target},
                    )
                    running[work.step.id] = asyncio.create_task(self._run_step(work))
            for check in progress.checks:
                if check.id not in running:
                    self._record(check.id, "started", {"action": "gate", "target": check.env})
                    running[check.id] = asyncio.create_task(self._run_check(check))
            wait = progress.wait
            if wait is not None and not wait.recorded:
                self._record(wait.id, WAITING, wait.payload())  # before sleeping: durable
            if not running:
                if wait is None or wait.until is None or progress.done:
                    return progress
                await self.clock.idle_until(wait.until, self.wait_poll_s)
                continue
            finished, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for step_id in [k for k, task in running.items() if task in finished]:
                running.pop(step_id).result()  # re-raises only bugs; driver errors are journaled

    async def _run_check(self, check: PromotionCheck) -> None:
        try:
            result = await self.gate.check(check, self.journal.records())
        except DriverError as error:
            self._record(check.id, "failed", {"error": str(error)})
            return
        self._record(check.id, "succeeded", result)

    async def _run_step(self, work: Work) -> None:
        await run_one_step(
            work, self.executor, self.clock, self._record, self.retry_delay_s, self.poll_s
        )


RecordFn = Callable[[str, str, Mapping[str, Any]], None]
"""Journals one record of a step: ``(step_id, event, payload)``."""


async def run_one_step(
    work: Work,
    executor: StepExecutor,
    clock: Clock,
    record: RecordFn,
    retry_delay_s: float = 10.0,
    poll_s: float = 0.05,
) -> None:
    """Carry out one started step to its end, journaling what it saw and how it ended.

    The one way a step runs, in the in-process runner and in a Temporal activity alike:
    ``observed`` records as it goes, ``retry`` before each retry of a transient failure
    (waiting longer each time), then ``succeeded`` with its result, ``failed`` with the
    error, or ``held`` when it needs a person. Driver errors end up in the journal, never
    raised; only bugs (and cancellation) escape.
    """
    step = work.step

    async def observe(payload: Mapping[str, Any]) -> None:
        record(step.id, "observed", payload)

    attempt = 0
    while True:
        try:
            result = await _within_timeout(work, executor, clock, observe, poll_s)
        except TransientDriverError as error:
            if attempt < step.retries:
                attempt += 1
                record(step.id, "retry", {"attempt": attempt, "error": str(error)})
                await clock.sleep(retry_delay_s * attempt)
                continue
            record(step.id, "failed", {"error": str(error), "attempts": attempt + 1})
            return
        except NeedsPerson as error:
            # Not a failure and not a success: the step waits, and so does the run.
            record(step.id, "held", {"reason": str(error)})
            return
        except DriverError as error:
            record(step.id, "failed", {"error": str(error), "attempts": attempt + 1})
            return
        record(step.id, "succeeded", result)
        return


async def _within_timeout(
    work: Work, executor: StepExecutor, clock: Clock, observe: Any, poll_s: float
) -> dict[str, Any]:
    """Run a step, giving up after its timeout on the engine's own clock.

    The clock decides, not the wall: a simulated estate's reboot of five virtual
    minutes must not time out after five real ones, nor a real one after a simulated
    five. The timer only reads the clock (it must not wait on it: a simulated clock
    moves when something waits, and the timer's waiting would move it). Drivers that
    wait (reboots, drains) keep their own, tighter deadlines; this is the backstop for
    a step that hangs. A timed-out step may be retried.
    """
    step = work.step
    deadline = clock.now() + timedelta(seconds=step.timeout_s * 1.1 + 5.0)
    action = asyncio.create_task(executor.run(work, observe))
    timer = asyncio.create_task(_until(clock, deadline, poll_s))
    try:
        done, _ = await asyncio.wait({action, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (action, timer):
            if not task.done():
                task.cancel()
    if action not in done:
        with contextlib.suppress(asyncio.CancelledError):
            await action
        raise TransientDriverError(
            f"{step.action} on {step.target} timed out after {step.timeout_s:.0f} s"
        )
    return action.result()


async def _until(clock: Clock, deadline: datetime, poll_s: float) -> None:
    """Return once the engine's clock reaches ``deadline``; polls, never advances it."""
    while clock.now() < deadline:
        await asyncio.sleep(poll_s)
