"""A campaign as a Temporal workflow: the same machine, its steps as activities.

The workflow is the in-process runner's loop made durable. It asks
:func:`patchwarden.engine.machine.evaluate` what runs next, starts each step as an activity
on the task queue of the site its target sits in (a ``patchwarden worker`` next to those
hosts picks it up), and feeds the records each activity journaled back into the machine.
Nothing here does I/O, reads a clock or draws a random number: Temporal replays this code
from its history after a crash, and it must decide the same way each time.

Rules:
- the store's journal stays the record: activities write it (``started``, ``observed``,
  ``retry``, then ``succeeded``, ``failed`` or ``held``), exactly as the in-process runner
  does, and the workflow reads it once at the start (a run taken up again) and again after a
  person acted on the run (``resume`` releases held steps by journaling ``released``);
- a person's requests are signals: ``control`` carries ``pause``, ``abort``, ``rollback`` or
  ``""`` (resume), ``approve`` releases a step held for a person, ``reload`` re-reads the
  journal; ``status`` is a query;
- where the in-process runner would stop and leave the run paused (a pause, or steps held
  for a person), the workflow records the pause and then waits for a signal: durably,
  without a process waiting with it and without polling;
- ``wait`` steps (a soak between a canary and the rest) are durable timers in the workflow,
  journaled like any step: two days of soak are a timer in Temporal's history, not a
  sleeping worker (a ``bake`` watches the new side serve, so it is an activity);
- at the end an activity settles the run's state from its journal (the same rule as the
  in-process runner), and the workflow returns the unit counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from patchwarden.domain.plan import Plan
    from patchwarden.domain.steps import WaitParams
    from patchwarden.engine.machine import CONTROLS, Progress, Record, Work, evaluate
    from patchwarden.engine.timing import WAITING, PromotionCheck, Timing
    from patchwarden.planning.windows import PlanCalendar

__all__ = [
    "ACTIVITY_APPEND",
    "ACTIVITY_CHECK",
    "ACTIVITY_LOAD",
    "ACTIVITY_SETTLE",
    "ACTIVITY_STEP",
    "HEARTBEAT_S",
    "WORKFLOW",
    "CampaignInput",
    "CampaignWorkflow",
    "CheckInput",
    "JournalLine",
    "SettleInput",
    "StepInput",
]

WORKFLOW = "patchwarden.campaign"
ACTIVITY_STEP = "patchwarden.run_step"
ACTIVITY_LOAD = "patchwarden.load_journal"
ACTIVITY_APPEND = "patchwarden.append_journal"
ACTIVITY_SETTLE = "patchwarden.settle_run"
ACTIVITY_CHECK = "patchwarden.check_gate"

# Infrastructure failures (a worker killed, the store unreachable) are retried until the
# activity's own timeout; a step's failures are results, journaled, never raised.
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
_BOOK = timedelta(minutes=5)  # reading or writing the journal
HEARTBEAT_S = 20.0
"""A worker silent this long while a step runs is presumed dead (the default)."""


@dataclass
class CampaignInput:
    """What a campaign workflow needs: the run, its plan, and where each unit's steps go."""

    run_id: str
    plan: dict[str, Any]
    queue: str
    """The task queue of the journal's activities (and of units with no site)."""
    unit_queues: dict[str, str] = field(default_factory=dict)
    """A unit's task queue, by unit id, when its target sits in a site of its own."""
    control: str = ""
    emergency: bool = False
    """An approved emergency change: windows do not hold new work (soak still does)."""
    time_scale: float = 1.0
    """Plan seconds per real second of a timer: the simulated estate's speed-up, else 1."""
    step_queues: dict[str, str] = field(default_factory=dict)
    """A step's task queue, by step id, where it is not its unit's (a hook on the
    controller, a load balancer in another site): see ``service.temporal.step_queues``."""
    heartbeat_s: float = HEARTBEAT_S
    """A worker silent this long while a step runs is presumed dead: its step goes to
    another worker of the queue. Shorter finds a lost worker sooner; too short takes a
    worker stalled for a moment (a loaded machine) for a dead one."""


@dataclass
class StepInput:
    """One step to carry out: found again by id in the run's plan by the worker."""

    run_id: str
    step_id: str
    unit_id: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckInput:
    """A promotion gate to check (see ``engine.timing.PromotionCheck``)."""

    run_id: str
    id: str
    env: str
    previous: str
    units: list[str] = field(default_factory=list)


@dataclass
class JournalLine:
    """One journal record, as activities hand it to the workflow."""

    step_id: str
    event: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class SettleInput:
    """Settle the run's state from its journal: ended, or stopped short (paused)."""

    run_id: str
    control: str


@workflow.defn(name=WORKFLOW)
class CampaignWorkflow:
    """Drives one run of a plan to its end (see the module docstring)."""

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._control: str | None = None
        self._woken = False
        self._reload = False
        self._approved: list[str] = []
        self._progress: Progress | None = None
        self._running: set[str] = set()

    # -- signals and the query ----------------------------------------------------------

    @workflow.signal(name="control")
    def control(self, value: str) -> None:
        """A person's request: ``pause``, ``abort``, ``rollback``, or ``""`` to resume."""
        if value in CONTROLS:
            self._control = value
            self._woken = True
            self._reload = True  # resume may have journaled ``released`` records

    @workflow.signal(name="approve")
    def approve(self, step_id: str) -> None:
        """A person approves a step held for them (a marginal canary): it runs again."""
        self._approved.append(step_id)
        self._woken = True

    @workflow.signal(name="reload")
    def reload(self) -> None:
        """Re-read the journal (something besides this workflow wrote to it)."""
        self._reload = True
        self._woken = True

    @workflow.query(name="status")
    def status(self) -> dict[str, Any]:
        """Units by state, steps running and steps waiting for a person."""
        progress = self._progress
        return {
            "control": self._control or "",
            "running": sorted(self._running),
            "units": {} if progress is None else {k: v.value for k, v in progress.units.items()},
            "waiting": [] if progress is None else list(progress.waiting),
            "done": False if progress is None else progress.done,
        }

    # -- the loop -----------------------------------------------------------------------

    @workflow.run
    async def run(self, params: CampaignInput) -> dict[str, Any]:
        """Run the plan to its end; returns the run's final state and unit counts."""
        plan = Plan.model_validate(params.plan)
        if self._control is None:  # a signal sent with the start wins
            self._control = params.control
        await self._load(params)
        calendar = PlanCalendar(plan.windows) if plan.windows else None
        tasks: dict[str, asyncio.Task[None]] = {}
        while True:
            if self._reload and not tasks:
                await self._load(params)
            await self._release_approved(params)
            timing = Timing(self._now(params), calendar, params.emergency)
            progress = evaluate(plan, self._records, frozenset(tasks), self._control, timing)
            self._progress = progress
            for work in progress.runnable:
                if work.step.id not in tasks:
                    tasks[work.step.id] = asyncio.create_task(self._step(params, work))
                    self._running.add(work.step.id)
            for check in progress.checks:
                if check.id not in tasks:
                    tasks[check.id] = asyncio.create_task(self._check(params, check))
                    self._running.add(check.id)
            wait = progress.wait
            if wait is not None and not wait.recorded:
                line = JournalLine(wait.id, WAITING, wait.payload())
                await self._journal(params, line)  # before waiting: durable
            if not tasks and wait is not None and wait.until is not None and not progress.done:
                # A window or a soak: a durable timer, cut short by a person's signal.
                left = (wait.until - self._now(params)).total_seconds() / params.time_scale
                self._woken = False
                with contextlib.suppress(asyncio.TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._woken, timeout=timedelta(seconds=max(0.001, left))
                    )
                continue
            if tasks:
                self._woken = False
                await workflow.wait(list(tasks.values()), return_when=asyncio.FIRST_COMPLETED)
                for step_id in [k for k, t in tasks.items() if t.done()]:
                    tasks.pop(step_id).result()
                    self._running.discard(step_id)
                continue
            if progress.done and not progress.waiting:
                return await self._settle(params)
            # Stopped short: paused, or steps wait for a person. Say so, then wait.
            await self._settle(params)
            self._woken = False
            await workflow.wait_condition(lambda: self._woken)

    def _now(self, params: CampaignInput) -> datetime:
        """The engine's now: Temporal's deterministic clock, sped up for a simulated estate."""
        start = workflow.info().start_time
        return start + (workflow.now() - start) * params.time_scale

    async def _check(self, params: CampaignInput, check: PromotionCheck) -> None:
        # The gate re-scans the previous environment's hosts: a worker of their site does it.
        queues = {params.unit_queues.get(u, params.queue) for u in check.units}
        lines = await workflow.execute_activity(
            ACTIVITY_CHECK,
            CheckInput(params.run_id, check.id, check.env, check.previous, list(check.units)),
            task_queue=queues.pop() if len(queues) == 1 else params.queue,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_s),
            retry_policy=_RETRY, result_type=list[JournalLine],
        )  # fmt: skip
        self._records.extend(Record(line.step_id, line.event, line.payload) for line in lines)

    async def _load(self, params: CampaignInput) -> None:
        lines = await workflow.execute_activity(
            ACTIVITY_LOAD, params.run_id, task_queue=params.queue,
            start_to_close_timeout=_BOOK, retry_policy=_RETRY, result_type=list[JournalLine],
        )  # fmt: skip
        self._records = [Record(line.step_id, line.event, line.payload) for line in lines]
        self._reload = False

    async def _journal(self, params: CampaignInput, line: JournalLine) -> None:
        await workflow.execute_activity(
            ACTIVITY_APPEND, args=[params.run_id, line], task_queue=params.queue,
            start_to_close_timeout=_BOOK, retry_policy=_RETRY,
        )  # fmt: skip
        self._records.append(Record(line.step_id, line.event, line.payload))

    async def _release_approved(self, params: CampaignInput) -> None:
        while self._approved:
            step_id = self._approved.pop(0)
            held = [r for r in self._records if r.step_id == step_id]
            if held and held[-1].event == "held":
                await self._journal(params, JournalLine(step_id, "released", {"by": "approve"}))

    async def _step(self, params: CampaignInput, work: Work) -> None:
        step = work.step
        if isinstance(step.params, WaitParams):
            await self._timer(params, work, step.params.seconds)
            return
        lines = await workflow.execute_activity(
            ACTIVITY_STEP,
            StepInput(params.run_id, step.id, work.unit_id, dict(work.inputs)),
            task_queue=params.step_queues.get(
                step.id, params.unit_queues.get(work.unit_id, params.queue)
            ),
            start_to_close_timeout=timedelta(seconds=step.timeout_s * 1.2 + 120),
            heartbeat_timeout=timedelta(seconds=params.heartbeat_s),
            retry_policy=_RETRY,
            result_type=list[JournalLine],
        )
        self._records.extend(Record(line.step_id, line.event, line.payload) for line in lines)

    async def _timer(self, params: CampaignInput, work: Work, seconds: float) -> None:
        """A wait: a durable timer between the records the executor would have written."""
        step = work.step
        started = {"action": step.action.value, "target": step.target}
        await self._journal(params, JournalLine(step.id, "started", started))
        await workflow.sleep(timedelta(seconds=seconds / params.time_scale))
        await self._journal(params, JournalLine(step.id, "succeeded", {"waited_s": seconds}))

    async def _settle(self, params: CampaignInput) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity(
            ACTIVITY_SETTLE, SettleInput(params.run_id, self._control or ""),
            task_queue=params.queue, start_to_close_timeout=_BOOK, retry_policy=_RETRY,
        )  # fmt: skip
        return result
