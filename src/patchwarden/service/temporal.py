"""Campaigns on Temporal: start a run as a workflow, serve its steps from workers, signal it.

``apply --engine temporal`` opens the run as ``apply`` always does (plan, change, run, its
summary), then starts :class:`~patchwarden.service.temporal_flow.CampaignWorkflow` for it
and gives up its lease: the workflow, whose id is the run's (``patchwarden-run-<id>``), is
now the run's one driver, and Temporal refuses a second workflow with that id while it
runs. ``patchwarden worker`` processes carry out the steps: each serves the task queue of
its site (``patchwarden-site-<site>``, for assets tagged ``site: <site>``; ``patchwarden``
for the rest and for the journal's own activities), rebuilding a run's drivers from the
store the first time it is handed one of its steps.

The store stays the record: every activity writes the journal as the in-process runner
does, so ``status``, reports and the audit trail read a Temporal run like any other. A
person's ``pause``, ``resume``, ``abort`` and ``rollback`` move the run in the store as
always and are then signalled to its workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from patchwarden.domain.plan import Plan, Step
from patchwarden.domain.steps import HookParams
from patchwarden.engine.gates import QAGate
from patchwarden.engine.journal import journal_record
from patchwarden.engine.lifecycle import replay, stop
from patchwarden.engine.machine import Record, UnitState, Work
from patchwarden.engine.runner import run_one_step
from patchwarden.engine.steps import StepExecutor
from patchwarden.engine.timing import PromotionCheck
from patchwarden.errors import DriverError, InputError, StoreError, UsageError
from patchwarden.service.audit import Actor, cli_actor, record
from patchwarden.service.change import finish_change
from patchwarden.service.execution import (
    RunDrivers,
    RunSetup,
    change_outcome,
    roll_back,
    run_drivers,
)
from patchwarden.service.replay import load_plan, run_state
from patchwarden.service.runs import request
from patchwarden.service.temporal_flow import (
    ACTIVITY_APPEND,
    ACTIVITY_CHECK,
    ACTIVITY_LOAD,
    ACTIVITY_SETTLE,
    ACTIVITY_STEP,
    HEARTBEAT_S,
    CampaignInput,
    CampaignWorkflow,
    CheckInput,
    JournalLine,
    SettleInput,
    StepInput,
)
from patchwarden.store import RunRecord, Store

__all__ = [
    "ADDRESS_VAR",
    "DEFAULT_QUEUE",
    "HEARTBEAT_VAR",
    "NAMESPACE_VAR",
    "CampaignActivities",
    "TemporalControl",
    "TemporalSettings",
    "carry_out_on_temporal",
    "connect",
    "control_on_temporal",
    "roll_back_on_temporal",
    "serve",
    "signal_run",
    "site_queue",
    "start_campaign",
    "step_queues",
    "tell_workflow",
    "temporal_run",
    "wait_for_campaign",
    "worker",
    "workflow_id",
    "workflow_running",
]

ADDRESS_VAR = "PATCHWARDEN_TEMPORAL_ADDRESS"
NAMESPACE_VAR = "PATCHWARDEN_TEMPORAL_NAMESPACE"
DEFAULT_QUEUE = "patchwarden"
"""The task queue of workflows, of the journal's activities, and of assets with no site."""

HEARTBEAT_VAR = "PATCHWARDEN_TEMPORAL_HEARTBEAT"
_HEARTBEAT_S = 5.0  # how often a step's worker says it is alive, at most
_HEARTBEAT_MIN_S = 1.0


@dataclass(frozen=True)
class TemporalSettings:
    """Where Temporal is, and how long a worker may stay silent in a step.

    ``address`` is ``host:port`` of its frontend; after ``heartbeat_s`` without a word from
    the worker carrying out a step, Temporal hands the step to another worker.
    """

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    heartbeat_s: float = HEARTBEAT_S

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], address: str | None = None, namespace: str | None = None
    ) -> TemporalSettings:
        """Options first, then ``PATCHWARDEN_TEMPORAL_ADDRESS`` / ``_NAMESPACE`` / ``_HEARTBEAT``.

        >>> TemporalSettings.from_env({"PATCHWARDEN_TEMPORAL_ADDRESS": "t:7233"}).address
        't:7233'
        >>> TemporalSettings.from_env({"PATCHWARDEN_TEMPORAL_HEARTBEAT": "5"}).heartbeat_s
        5.0

        Raises:
            UsageError: the heartbeat is not a number of seconds of at least 1.
        """
        return cls(
            address or environ.get(ADDRESS_VAR) or cls.address,
            namespace or environ.get(NAMESPACE_VAR) or cls.namespace,
            _heartbeat_seconds(environ.get(HEARTBEAT_VAR)),
        )


def _heartbeat_seconds(raw: str | None) -> float:
    """``PATCHWARDEN_TEMPORAL_HEARTBEAT`` as seconds; the default when unset or empty.

    >>> _heartbeat_seconds(None), _heartbeat_seconds("2.5")
    (20.0, 2.5)
    """
    if raw is None or not raw.strip():
        return HEARTBEAT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds >= _HEARTBEAT_MIN_S or seconds == float("inf"):
        raise UsageError(
            f"{HEARTBEAT_VAR}={raw!r}: give the seconds a worker may stay silent before its "
            f"step goes to another worker, a number of at least {_HEARTBEAT_MIN_S:g} "
            f"(default {HEARTBEAT_S:g})"
        )
    return seconds


def site_queue(site: str) -> str:
    """The task queue of a site's workers.

    >>> site_queue(""), site_queue("eu-1")
    ('patchwarden', 'patchwarden-site-eu-1')
    """
    return f"{DEFAULT_QUEUE}-site-{site}" if site else DEFAULT_QUEUE


def workflow_id(run_id: str) -> str:
    """The workflow id of a run: one workflow per run.

    >>> workflow_id("3f2a")
    'patchwarden-run-3f2a'
    """
    return f"patchwarden-run-{run_id}"


def temporal_run(run: RunRecord) -> dict[str, Any] | None:
    """Where a run driven by Temporal is (its summary's ``temporal``), else ``None``."""
    found = (run.summary or {}).get("temporal")
    return found if isinstance(found, dict) else None


async def connect(settings: TemporalSettings) -> Client:
    """A client of the Temporal frontend.

    Raises:
        UsageError: Temporal cannot be reached there (the message says where).
    """
    try:
        return await Client.connect(settings.address, namespace=settings.namespace)
    except (RPCError, RuntimeError, OSError) as exc:
        raise UsageError(
            f"cannot reach Temporal at {settings.address} (namespace {settings.namespace}): "
            f"{exc}; start it, or set --temporal-address / {ADDRESS_VAR}"
        ) from exc


def _unit_queues(plan: Plan, sites: Mapping[str, str]) -> dict[str, str]:
    return {u.id: site_queue(sites[u.target]) for u in plan.units() if sites.get(u.target)}


def step_queues(plan: Plan, sites: Mapping[str, str]) -> dict[str, str]:
    """The steps that do not run on their unit's queue, and the queue each runs on.

    A step runs on the queue of its unit's target's site (``patchwarden`` when it has
    none), except:

    - a hook ``on: controller`` runs on ``patchwarden``: the controller is where the
      workers without a site run, beside the store and Temporal, not next to the hosts;
    - a step whose own target is an asset of another site than the unit's (a load
      balancer the host sits behind, a cluster's controller) runs on that site's queue,
      next to the thing it talks to.

    Waits are timers in the workflow (no queue); a promotion gate runs on the queue of the
    hosts it re-scans when they share one, else on ``patchwarden``.
    """
    found: dict[str, str] = {}
    for unit in plan.units():
        home = site_queue(sites.get(unit.target, ""))
        for step in (*unit.steps, *unit.rollback):
            params = step.params
            if isinstance(params, HookParams) and params.on == "controller":
                queue = DEFAULT_QUEUE
            elif sites.get(step.target):
                queue = site_queue(sites[step.target])
            else:
                queue = home
            if queue != home:
                found[step.id] = queue
    return found


async def start_campaign(
    client: Client, store: Store, setup: RunSetup, settings: TemporalSettings, speed: float
) -> WorkflowHandle[Any, Any]:
    """Start the run's workflow and record in the run that Temporal drives it.

    The caller gives up its lease afterwards: from here on the workflow drives the run.
    """
    run = setup.run
    params = CampaignInput(
        run_id=run.id,
        plan=setup.plan.model_dump(mode="json"),
        queue=DEFAULT_QUEUE,
        unit_queues=_unit_queues(setup.plan, setup.sites),
        step_queues=step_queues(setup.plan, setup.sites),
        control=run_state(run).control,
        emergency=setup.emergency,
        time_scale=speed if setup.sim else 1.0,
        heartbeat_s=settings.heartbeat_s,
    )
    where = {
        "workflow_id": workflow_id(run.id),
        "address": settings.address,
        "namespace": settings.namespace,
        "speed": speed,
        "heartbeat_s": settings.heartbeat_s,
    }
    summary = {**setup.summary(), **({"change": setup.change} if setup.change else {})}
    store.set_run_state(run.id, run.state, summary={**summary, "temporal": where})
    return await client.start_workflow(
        CampaignWorkflow.run, params, id=workflow_id(run.id), task_queue=DEFAULT_QUEUE
    )


async def wait_for_campaign(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """The workflow's result once the run has ended."""
    result: dict[str, Any] = await handle.result()
    return result


async def signal_run(settings: TemporalSettings, run: RunRecord) -> bool:
    """Tell a Temporal run's workflow what the store now says of the run.

    ``False`` when the workflow is gone (it ended): nothing to tell.
    """
    where = temporal_run(run)
    if where is None:
        return False
    client = await connect(settings)
    handle = client.get_workflow_handle(str(where["workflow_id"]))
    try:
        await handle.signal("control", run_state(run).control)
    except RPCError:
        return False
    return True


class CampaignActivities:
    """The activities a worker serves: one step, and the journal's bookkeeping.

    Args:
        store: The store the journal lives in (the workflow never touches it).
        speed: The simulated clock's speed-up, for runs on the simulated estate.
        now: The wall clock, for the simulated estate's start.
        drivers_for: Builds a run's plan and drivers the first time this worker is handed
            one of its steps; by default from what the run recorded (its simulated estate
            or its inventory files), as ``resume`` does. Benches pass their own.
    """

    def __init__(
        self,
        store: Store,
        *,
        speed: float = 3000.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        drivers_for: Callable[[RunRecord], RunDrivers] | None = None,
    ) -> None:
        self.store = store
        self.speed = speed
        self.now = now
        self._drivers_for = drivers_for or self._recorded_drivers
        self._runs: dict[str, RunDrivers] = {}

    def _recorded_drivers(self, run: RunRecord) -> RunDrivers:
        speed = float((temporal_run(run) or {}).get("speed", self.speed))
        return run_drivers(self.store, run, speed=speed, now=self.now())

    def _run(self, run_id: str) -> tuple[RunRecord, RunDrivers]:
        run = self.store.get_run(run_id)
        if run is None:
            raise StoreError(f"no run {run_id!r} in this worker's store")
        if run_id not in self._runs:
            self._runs[run_id] = self._drivers_for(run)
        return run, self._runs[run_id]

    @activity.defn(name=ACTIVITY_LOAD)
    async def load_journal(self, run_id: str) -> list[JournalLine]:
        """The run's journal as it stands."""
        return [JournalLine(e.step_id, e.event, e.payload) for e in self.store.events(run_id)]

    @activity.defn(name=ACTIVITY_APPEND)
    async def append_journal(self, run_id: str, line: JournalLine) -> None:
        """Append one record the workflow itself decided (a timer, a release)."""
        kept = journal_record(line.step_id, line.event, line.payload, self.now())
        self.store.append_event(run_id, line.step_id, line.event, kept.payload, self.now())

    @activity.defn(name=ACTIVITY_STEP)
    async def run_step(self, params: StepInput) -> list[JournalLine]:
        """Carry out one step as the in-process runner does, journaling before and after."""
        _, found = self._run(params.run_id)
        step = _find_step(found.plan, params.step_id)
        lines: list[JournalLine] = []
        clock = found.drivers.clock

        def journal(step_id: str, event: str, payload: Mapping[str, Any]) -> None:
            at = clock.now()
            kept = journal_record(step_id, event, payload, at)
            self.store.append_event(params.run_id, step_id, event, kept.payload, at)
            lines.append(JournalLine(step_id, event, dict(kept.payload)))

        journal(step.id, "started", {"action": step.action.value, "target": step.target})
        beat = asyncio.create_task(_heartbeat())
        try:
            work = Work(step, params.unit_id, params.inputs)
            await run_one_step(work, StepExecutor(found.drivers), clock, journal)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return lines

    @activity.defn(name=ACTIVITY_CHECK)
    async def check_gate(self, params: CheckInput) -> list[JournalLine]:
        """Check a promotion gate as the in-process runner does, journaled the same way."""
        _, found = self._run(params.run_id)
        check = PromotionCheck(params.id, params.env, params.previous, tuple(params.units))
        clock = found.drivers.clock
        records = [Record(e.step_id, e.event, e.payload) for e in self.store.events(params.run_id)]
        lines: list[JournalLine] = []

        def journal(event: str, payload: Mapping[str, Any]) -> None:
            at = clock.now()
            kept = journal_record(check.id, event, payload, at)
            self.store.append_event(params.run_id, check.id, event, kept.payload, at)
            lines.append(JournalLine(check.id, event, dict(kept.payload)))

        journal("started", {"action": "gate", "target": check.env})
        beat = asyncio.create_task(_heartbeat())
        try:
            result = await QAGate(found.plan, found.drivers).check(check, records)
        except DriverError as error:
            journal("failed", {"error": str(error)})
        else:
            journal("succeeded", result)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        return lines

    @activity.defn(name=ACTIVITY_SETTLE)
    async def settle_run(self, params: SettleInput) -> dict[str, Any]:
        """Move the run to where its journal leaves it: ended, or paused (as ``drive``)."""
        run = self.store.get_run(params.run_id)
        if run is None:
            raise StoreError(f"no run {params.run_id!r} in this worker's store")
        plan = load_plan(self.store, run)
        records = [Record(e.step_id, e.event, e.payload) for e in self.store.events(run.id)]
        state = run_state(run)
        progress = replay(plan, records, state).progress
        ended = stop(state, progress).state
        units = {s.value: progress.count(s) for s in UnitState if progress.count(s)}
        summary = {**(run.summary or {}), "units": units}
        cached = self._runs.get(run.id)
        if cached is not None and cached.sim:
            summary.update(cached.summary())
        self.store.set_run_state(
            run.id, ended.value, finished_at=self.now() if ended.ended else None, summary=summary
        )
        record(
            self.store, Actor("engine"), "run.finish" if ended.ended else "run.stop", "run",
            run.id, object_hash=run.plan_hash, details={"state": ended.value, **units},
        )  # fmt: skip
        change = summary.get("change")
        outcome = change_outcome(ended)
        if isinstance(change, int) and outcome is not None and ended is not state:
            finish_change(self.store, change, outcome, "engine", self.now(), note=f"run {run.id}")
        if ended.ended:
            done = self._runs.pop(run.id, None)
            if done is not None and done.close is not None:
                await done.close()  # the run's SSH connections: a worker lives for weeks
        return {"state": ended.value, "units": units}


def _find_step(plan: Plan, step_id: str) -> Step:
    for unit in plan.units():
        for step in (*unit.steps, *unit.rollback):
            if step.id == step_id:
                return step
    raise StoreError(f"step {step_id!r} is not in the run's plan")


async def _heartbeat() -> None:
    """Tell Temporal this worker is alive while a step runs (a killed worker goes quiet).

    Four times within the step's heartbeat timeout, so one late beat on a busy machine
    does not pass for a dead worker (every 5 s at most; the SDK sends fewer).
    """
    timeout = activity.info().heartbeat_timeout
    every = min(_HEARTBEAT_S, timeout.total_seconds() / 4) if timeout else _HEARTBEAT_S
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)


def worker(
    client: Client,
    activities: CampaignActivities,
    *,
    site: str = "",
    max_concurrent: int = 100,
) -> list[Worker]:
    """The Temporal workers of one ``patchwarden worker`` process.

    Every process serves the default queue (workflows and the journal's activities); one
    with a ``site`` also serves that site's queue, where the steps on its hosts go.
    """
    served: list[Callable[..., Any]] = [
        activities.load_journal,
        activities.append_journal,
        activities.settle_run,
    ]
    if not site:
        served += [activities.run_step, activities.check_gate]
    main = Worker(
        client,
        task_queue=DEFAULT_QUEUE,
        workflows=[CampaignWorkflow],
        activities=served,
        max_concurrent_activities=max_concurrent,
    )
    if not site:
        return [main]
    near = Worker(
        client,
        task_queue=site_queue(site),
        activities=[activities.run_step, activities.check_gate],
        max_concurrent_activities=max_concurrent,
    )
    return [main, near]


def default_settings() -> TemporalSettings:
    """Settings from the environment alone."""
    return TemporalSettings.from_env(os.environ)


def carry_out_on_temporal(
    store: Store, setup: RunSetup, settings: TemporalSettings, speed: float, *, wait: bool = True
) -> RunRecord:
    """Hand a run just opened to Temporal; with ``wait``, return once it has ended.

    The run's lease is given up once the workflow has started: the workflow drives it.

    Raises:
        UsageError: Temporal cannot be reached (the run stays as opened: resume it).
    """

    async def go() -> None:
        client = await connect(settings)
        handle = await start_campaign(client, store, setup, settings, speed)
        setup.lease.release()
        if wait:
            await wait_for_campaign(handle)

    try:
        asyncio.run(go())
    finally:
        setup.lease.release()
    found = store.get_run(setup.run.id)
    assert found is not None  # the run was opened above and runs are never deleted
    return found


def _recorded_settings(run: RunRecord) -> TemporalSettings:
    """Where the run's workflow was started (its summary says), else the defaults."""
    where = temporal_run(run) or {}
    return TemporalSettings(
        str(where.get("address", TemporalSettings.address)),
        str(where.get("namespace", TemporalSettings.namespace)),
        float(where.get("heartbeat_s", HEARTBEAT_S)),
    )


async def workflow_running(settings: TemporalSettings, run_id: str) -> bool:
    """Whether the run's workflow is running now (``False`` once it ended, or if unknown)."""
    client = await connect(settings)
    try:
        described = await client.get_workflow_handle(workflow_id(run_id)).describe()
    except RPCError:
        return False
    return described.status == WorkflowExecutionStatus.RUNNING


def roll_back_on_temporal(
    store: Store,
    run_id: str,
    *,
    user: str,
    now: datetime,
    settings: TemporalSettings | None = None,
    actor: Actor | None = None,
    wait: bool = True,
) -> tuple[RunRecord, str]:
    """Roll back a run Temporal drives or drove, on Temporal; returns the run and how.

    While its workflow runs, the request is recorded and signalled (``"signalled"``): the
    workflow rolls back from its next decision. Once the workflow has ended (the run
    completed, failed or was stopped), a new workflow with the same id carries out the
    rollback (``"started"``), its steps on the same queues as the run's, journaled in the
    same journal; with ``wait`` this returns once it has ended. ``"busy"``: another process
    holds the run's lease (an ``apply`` or ``resume`` of the local runner drives it).

    Raises:
        InputError: an unknown run, or one rolled back already.
        UsageError: Temporal cannot be reached.
    """
    run = store.get_run(run_id)
    if run is None:
        raise InputError(f"no run {run_id!r} (see `patchwarden status`)")
    chosen = settings or _recorded_settings(run)
    who = actor or cli_actor(user)
    if asyncio.run(workflow_running(chosen, run.id)):
        moved = request(store, run.id, "rollback", actor=who).run
        asyncio.run(signal_run(chosen, moved))
        return moved, "signalled"
    speed = float((temporal_run(run) or {}).get("speed", 3000.0))
    found, setup = roll_back(store, run.id, speed=speed, now=now, user=user, actor=who)
    if setup is None:
        return found, "busy"
    return carry_out_on_temporal(store, setup, chosen, speed, wait=wait), "started"


@dataclass(frozen=True)
class TemporalControl:
    """What a person's request did to a run a workflow drives (or drove).

    ``how``: ``signalled`` (the workflow takes it at its next decision), ``ended`` (the
    workflow is gone: the store moved, nothing to tell), ``started`` (a new workflow rolls
    the run back) or ``busy`` (another process holds the run). ``verdict`` is the store's
    transition (``moved``, ``unchanged``) for pause, abort and resume.
    """

    run: RunRecord
    how: str
    verdict: str | None = None


def control_on_temporal(
    store: Store, run_id: str, what: str, *, actor: Actor, now: datetime
) -> TemporalControl:
    """Pause, abort, resume or roll back a run Temporal drives, from any process.

    Rule: nothing is driven here. Pause, abort and resume move the run in the store, as for
    any run, and are signalled to its workflow; a rollback is signalled to a running
    workflow, or carried out by a new one once it has ended (not waited for). So a server
    asked to resume a Temporal run never starts a second driver beside the workflow.

    Raises:
        InputError: an unknown request or run, or one its state refuses.
        UsageError: Temporal cannot be reached.
    """
    if what == "rollback":
        found, how = roll_back_on_temporal(
            store, run_id, user=actor.name, now=now, actor=actor, wait=False
        )
        return TemporalControl(found, how)
    moved = request(store, run_id, what, actor=actor)
    told = tell_workflow(store, run_id)
    return TemporalControl(
        moved.run, "signalled" if told else "ended", moved.transition.verdict.value
    )


def tell_workflow(store: Store, run_id: str, settings: TemporalSettings | None = None) -> bool:
    """After a person's request moved a Temporal run in the store, signal its workflow.

    ``False`` for a run no workflow drives (or whose workflow has ended).
    """
    run = store.get_run(run_id)
    if run is None or temporal_run(run) is None:
        return False
    return asyncio.run(signal_run(settings or _recorded_settings(run), run))


async def serve(
    store: Store,
    settings: TemporalSettings,
    *,
    site: str = "",
    speed: float = 3000.0,
    max_concurrent: int = 100,
    ready: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve workflows and steps until cancelled (SIGINT or SIGTERM in ``worker``)."""
    client = await connect(settings)
    workers = worker(
        client, CampaignActivities(store, speed=speed), site=site, max_concurrent=max_concurrent
    )
    if ready is not None:
        ready([w.task_queue for w in workers])
    await asyncio.gather(*(w.run() for w in workers))
