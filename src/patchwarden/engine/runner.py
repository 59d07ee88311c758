"""The async runner: asks the machine what to do, does it through drivers, journals it.

Every side effect is bracketed by journal records: ``started`` before, ``succeeded`` or
``failed`` after (``observed`` in between, for what a step saw before acting). Killing the
runner at any moment and starting it again on the same journal resumes the campaign.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from patchwarden.domain.plan import Plan
from patchwarden.drivers.protocols import Clock
from patchwarden.engine.journal import Journal
from patchwarden.engine.machine import Progress, Work, evaluate
from patchwarden.engine.steps import StepExecutor
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["Runner"]

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
    ) -> None:
        self.plan = plan
        self.journal = journal
        self.executor = executor
        self.clock = clock
        self.on_progress = on_progress
        self.retry_delay_s = retry_delay_s
        self.control = control or (lambda: "")

    def _record(self, step_id: str, event: str, payload: Mapping[str, Any]) -> None:
        self.journal.append(step_id, event, payload, self.clock.now())

    async def run(self) -> Progress:
        """Run until the machine says done; returns the final progress."""
        running: dict[str, asyncio.Task[None]] = {}
        while True:
            progress = evaluate(
                self.plan, self.journal.records(), frozenset(running), self.control()
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
            if not running:
                return progress
            finished, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for step_id in [k for k, task in running.items() if task in finished]:
                running.pop(step_id).result()  # re-raises only bugs; driver errors are journaled

    async def _run_step(self, work: Work) -> None:
        step = work.step

        async def observe(payload: Mapping[str, Any]) -> None:
            self._record(step.id, "observed", payload)

        attempt = 0
        while True:
            try:
                result = await self.executor.run(work, observe)
            except TransientDriverError as error:
                if attempt < step.retries:
                    attempt += 1
                    self._record(step.id, "retry", {"attempt": attempt, "error": str(error)})
                    await self.clock.sleep(self.retry_delay_s * attempt)
                    continue
                self._record(step.id, "failed", {"error": str(error), "attempts": attempt + 1})
                return
            except DriverError as error:
                self._record(step.id, "failed", {"error": str(error), "attempts": attempt + 1})
                return
            self._record(step.id, "succeeded", result)
            return
