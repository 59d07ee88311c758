"""The engine's deterministic core: plan + journal records -> what to do next.

No I/O, no clock, no randomness: the same records always give the same answer, so a
runner that crashed resumes by replaying its journal, and another runner (a durable
workflow engine) could host the same logic.

Rules:
- waves run one after another, batches within a wave one after another, units of a batch
  side by side, at most ``max_concurrency`` units in progress at once;
- a unit's steps run in order; a step that failed fails its unit, which then runs its
  rollback steps (those whose ``only_if`` action had started) when rollback is ``auto``;
- a step journaled as started but neither finished nor running is run again: steps are
  idempotent (check, then act), which is what makes resuming after ``kill -9`` safe;
- once more units failed than ``max_errors`` allows, no new unit starts, and units in
  progress finish (or roll back) so nothing is left drained or in maintenance;
- a failure in an environment holds every later environment (promotion);
- a step that needs a person (a marginal canary) is ``held``: its unit waits, the run ends
  paused, and a ``released`` record (written on resume) runs the step again;
- a person's control: ``pause`` starts no new unit (running ones finish), ``abort`` skips
  every unit not yet started, ``rollback`` aborts and then undoes every unit that
  succeeded, one at a time, last first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from patchwarden.domain.plan import Plan, Step, StepAction, Unit
from patchwarden.domain.steps import HookParams, RestoreParams

__all__ = ["CONTROLS", "TERMINAL", "Progress", "Record", "UnitState", "Work", "evaluate"]

CONTROLS = ("", "pause", "abort", "rollback")


class UnitState(StrEnum):
    """Where a unit stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"


TERMINAL = frozenset(
    {
        UnitState.SUCCEEDED,
        UnitState.ROLLED_BACK,
        UnitState.FAILED,
        UnitState.HELD,
        UnitState.SKIPPED,
    }
)
FAILURES = frozenset({UnitState.ROLLED_BACK, UnitState.FAILED})


@dataclass(frozen=True)
class Record:
    """One journal record as the machine sees it."""

    step_id: str
    event: str  # started | observed | retry | held | released | succeeded | failed
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    """A step to start now, with inputs resolved from the journal (e.g. versions to restore)."""

    step: Step
    unit_id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """The machine's answer."""

    units: Mapping[str, UnitState]
    runnable: tuple[Work, ...]
    errors: int
    stopped: bool
    done: bool
    held_envs: tuple[str, ...]
    waiting: tuple[str, ...] = ()
    """Steps held for a person (a marginal canary analysis)."""

    def count(self, state: UnitState) -> int:
        """How many units are in ``state``."""
        return sum(1 for s in self.units.values() if s is state)


@dataclass
class _StepLog:
    last: str = ""
    first_observed: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None


def _logs(records: Iterable[Record]) -> dict[str, _StepLog]:
    logs: dict[str, _StepLog] = {}
    for rec in records:
        log = logs.setdefault(rec.step_id, _StepLog())
        if rec.event == "observed":
            if log.first_observed is None:
                log.first_observed = rec.payload
            continue
        if rec.event == "retry":
            continue
        log.last = rec.event
        if rec.event in ("succeeded", "failed"):
            log.result = rec.payload
    return logs


def _undo_inputs(
    step: Step, unit: Unit, units: Mapping[str, Unit], logs: Mapping[str, _StepLog]
) -> dict[str, Any]:
    """What a rollback step needs to know of the step it undoes.

    ``params.undoes()`` names the forward action (``patch`` for a restore) and a restore's
    ``from_unit`` the unit that ran it (a canary analysis undoes the canaries). The forward
    step's first observation holds what was there before it acted.
    """
    undo = step.params.undoes()
    if undo is None:
        return {}
    from_unit = step.params.from_unit if isinstance(step.params, RestoreParams) else ""
    source = units.get(from_unit or unit.id, unit)
    for forward in source.steps:
        if forward.action is undo and forward.target == step.target:
            observed = logs.get(forward.id, _StepLog()).first_observed or {}
            previous = observed.get("previous", {})
            packages = dict(previous) if isinstance(previous, Mapping) else {}
            return {"undo": dict(observed), "packages": packages}
    return {}


def _unit_state(
    unit: Unit,
    units: Mapping[str, Unit],
    logs: Mapping[str, _StepLog],
    running: frozenset[str],
    auto_rollback: bool,
    revert: bool = False,
) -> tuple[UnitState, Work | None]:
    started_actions: set[StepAction] = set()
    failed: Step | None = None
    for step in unit.steps:
        log = logs.get(step.id)
        if log is None or not log.last:
            state = UnitState.RUNNING if started_actions else UnitState.PENDING
            return state, Work(step, unit.id)
        started_actions.add(step.action)
        if log.last == "succeeded":
            continue
        if log.last == "held":
            return UnitState.RUNNING, None  # waiting for a person
        if log.last in ("started", "released"):
            if step.id in running:
                return UnitState.RUNNING, None
            # Resume after a crash: run it again, with what it saw the first time.
            return UnitState.RUNNING, Work(step, unit.id, {"observed": log.first_observed or {}})
        failed = step
        break
    else:
        if not revert:
            return UnitState.SUCCEEDED, None
        auto_rollback = True  # a person asked for it
    if not auto_rollback or (failed is not None and _aborts(failed)):
        return UnitState.FAILED, None
    for step in unit.rollback:
        if step.only_if is not None and step.only_if not in started_actions:
            continue
        log = logs.get(step.id)
        if log is None or not log.last or (log.last == "started" and step.id not in running):
            inputs: dict[str, Any] = {"observed": (log.first_observed if log else None) or {}}
            inputs.update(_undo_inputs(step, unit, units, logs))
            return UnitState.ROLLING_BACK, Work(step, unit.id, inputs)
        if log.last == "started":
            return UnitState.ROLLING_BACK, None
        if log.last == "failed":
            return UnitState.FAILED, None
    return UnitState.ROLLED_BACK, None


def _aborts(step: Step) -> bool:
    """A hook whose failure policy is ``abort``: its failure stops the run, undoes nothing."""
    return isinstance(step.params, HookParams) and step.params.on_failure == "abort"


def _aborted(units: Mapping[str, Unit], logs: Mapping[str, _StepLog]) -> bool:
    """Whether an aborting hook failed (hook steps' ids end in ``-hook``)."""
    for step_id, log in logs.items():
        if log.last != "failed" or not step_id.endswith("-hook"):
            continue
        unit = units.get(step_id.rsplit("/", 1)[0])
        if unit is not None and any(s.id == step_id and _aborts(s) for s in unit.steps):
            return True
    return False


def evaluate(
    plan: Plan,
    records: Iterable[Record],
    running: frozenset[str] = frozenset(),
    control: str = "",
) -> Progress:
    """Decide what runs next.

    ``running`` holds the step ids the caller is running now; ``control`` is a person's
    request (see :data:`CONTROLS`).
    """
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}")
    logs = _logs(records)
    units = {u.id: u for u in plan.units()}
    states, pending_work = _unit_states(plan, units, logs, running)
    if control == "rollback":
        _revert_one(units, logs, running, states, pending_work)
    errors = sum(1 for s in states.values() if s in FAILURES)
    stopped = errors > plan.max_errors or _aborted(units, logs)
    held_envs = _held_envs(plan, states)
    runnable = _schedule(plan, states, pending_work, control, held_envs, stopped)
    done = all(s in TERMINAL for s in states.values())
    if control == "rollback":
        done = done and not any(s is UnitState.SUCCEEDED for s in states.values())
    return Progress(
        units=states,
        runnable=runnable,
        errors=errors,
        stopped=stopped,
        done=done,
        held_envs=held_envs,
        waiting=tuple(sorted(s for s, log in logs.items() if log.last == "held")),
    )


def _unit_states(
    plan: Plan, units: Mapping[str, Unit], logs: Mapping[str, _StepLog], running: frozenset[str]
) -> tuple[dict[str, UnitState], dict[str, Work]]:
    """Each unit's state as its journal tells it, and the next step of those that have one."""
    auto = plan.rollback == "auto"
    states: dict[str, UnitState] = {}
    pending_work: dict[str, Work] = {}
    for unit in units.values():
        state, work = _unit_state(unit, units, logs, running, auto)
        states[unit.id] = state
        if work is not None:
            pending_work[unit.id] = work
    return states, pending_work


def _held_envs(plan: Plan, states: Mapping[str, UnitState]) -> tuple[str, ...]:
    """Environments after the first one where a unit failed (promotion holds them)."""
    failed_envs = {
        w.env for w in plan.waves for b in w.batches for u in b.units if states[u.id] in FAILURES
    }
    if not failed_envs:
        return ()
    first_failed = min(plan.environments.index(e) for e in failed_envs)
    return tuple(plan.environments[first_failed + 1 :])


def _schedule(
    plan: Plan,
    states: dict[str, UnitState],
    pending_work: Mapping[str, Work],
    control: str,
    held_envs: tuple[str, ...],
    stopped: bool,
) -> tuple[Work, ...]:
    """The work to start now, walking waves and batches in order.

    Units in progress always get their next step. A pending unit starts only when every
    earlier batch is finished and fewer than ``max_concurrency`` units are in progress;
    otherwise it stays pending (``pause``, a gate) or is marked, in ``states``, held (its
    environment is held) or skipped (the run stopped, a person aborted, or its batch
    requires an earlier one of its wave to have succeeded).
    """
    in_progress = sum(
        1 for s in states.values() if s in (UnitState.RUNNING, UnitState.ROLLING_BACK)
    )
    runnable: list[Work] = []
    gate_open = True  # false once an earlier wave/batch is not finished
    for wave in plan.waves:
        wave_failed = False
        for batch in wave.batches:
            blocked = batch.requires_success and wave_failed
            for unit in batch.units:
                state = states[unit.id]
                if state in (UnitState.RUNNING, UnitState.ROLLING_BACK):
                    if unit.id in pending_work:
                        runnable.append(pending_work[unit.id])
                    continue
                if state is not UnitState.PENDING or control == "pause":
                    continue
                if wave.env in held_envs:
                    states[unit.id] = UnitState.HELD
                elif stopped or blocked or control in ("abort", "rollback"):
                    states[unit.id] = UnitState.SKIPPED
                elif gate_open and in_progress < plan.max_concurrency:
                    runnable.append(pending_work[unit.id])
                    in_progress += 1
            if any(states[u.id] not in TERMINAL for u in batch.units):
                gate_open = False
            wave_failed = wave_failed or any(
                states[u.id] in FAILURES or states[u.id] is UnitState.SKIPPED for u in batch.units
            )
    return tuple(runnable)


def _revert_one(
    units: Mapping[str, Unit],
    logs: Mapping[str, _StepLog],
    running: frozenset[str],
    states: dict[str, UnitState],
    pending_work: dict[str, Work],
) -> None:
    """Undo succeeded units one at a time, the last of the plan first."""
    order = list(units)
    reverting = [u for u in order if _was_reverted(units[u], logs)]
    for unit_id in reversed(order):
        if states[unit_id] is not UnitState.SUCCEEDED and unit_id not in reverting:
            continue
        state, work = _unit_state(units[unit_id], units, logs, running, True, revert=True)
        states[unit_id] = state
        if work is not None:
            pending_work[unit_id] = work
            return  # one at a time
        if state is UnitState.ROLLING_BACK:
            return  # its current step is running


def _was_reverted(unit: Unit, logs: Mapping[str, _StepLog]) -> bool:
    return any(logs.get(step.id) is not None for step in unit.rollback)
