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

Time (given as ``timing``, see :mod:`patchwarden.engine.timing`; without it nothing waits):
- a unit starts only at or after its batch's planned slot, inside an opening of the
  slot's window and before that window's cutoff; otherwise the run WAITS until the next
  opening (the rest of a batch cut off goes to the next one). Units already under way
  finish their chain: the cutoff is the room for that. Only an approved emergency change
  starts units outside a window;
- environment N starts only after every unit of the environments before it succeeded,
  the soak time of N-1 (``plan.promotion.soak``) passed, and N's QA gate held: the
  pseudo-step ``gate/<N>`` (health of N-1's targets now, no restart loop, a re-scan showing
  the planned versions installed) succeeded. A failed gate holds N and every later
  environment;
- every wait is a journal record written before the runner sleeps (``Progress.wait``
  with ``recorded`` false asks for it), so a restart waits for the same instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from patchwarden.domain.plan import Batch, Plan, Step, StepAction, Unit, Wave
from patchwarden.domain.steps import HookParams, RestoreParams
from patchwarden.engine.timing import (
    PromotionCheck,
    Timing,
    Wait,
    recorded_waits,
    soak_wait,
    window_wait,
)

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
    wait: Wait | None = None
    """What the run waits for before it can start more (a window, a soak), and until when."""
    checks: tuple[PromotionCheck, ...] = ()
    """Promotion gates to check now (the runner journals them as ``gate/<env>``)."""

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
    timing: Timing | None = None,
) -> Progress:
    """Decide what runs next.

    ``running`` holds the step ids the caller is running now (gate checks included);
    ``control`` is a person's request (see :data:`CONTROLS`); ``timing`` the instant and
    windows that gate new units (see the module docstring).
    """
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}")
    records = tuple(records)
    logs = _logs(records)
    units = {u.id: u for u in plan.units()}
    states, pending_work = _unit_states(plan, units, logs, running)
    if control == "rollback":
        _revert_one(units, logs, running, states, pending_work)
    errors = sum(1 for s in states.values() if s in FAILURES)
    stopped = errors > plan.max_errors or _aborted(units, logs)
    held_envs = _held_envs(plan, states, logs)
    gates = _Gates(plan, logs, running, timing, recorded_waits(records))
    runnable = _schedule(plan, states, pending_work, control, held_envs, stopped, gates)
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
        wait=gates.wait,
        checks=tuple(gates.checks),
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


def _held_envs(
    plan: Plan, states: Mapping[str, UnitState], logs: Mapping[str, _StepLog]
) -> tuple[str, ...]:
    """Environments after the first one where a unit failed, and from a failed QA gate on."""
    failed_envs = {
        w.env for w in plan.waves for b in w.batches for u in b.units if states[u.id] in FAILURES
    }
    firsts = [plan.environments.index(e) + 1 for e in failed_envs]
    firsts += [
        plan.environments.index(env)
        for env in plan.environments
        if logs.get(f"gate/{env}", _StepLog()).last == "failed"
    ]
    if not firsts:
        return ()
    return tuple(plan.environments[min(firsts) :])


class _Gates:
    """Time and promotion gates on starting new units (see the module docstring)."""

    def __init__(
        self,
        plan: Plan,
        logs: Mapping[str, _StepLog],
        running: frozenset[str],
        timing: Timing | None,
        waits: Mapping[str, Wait],
    ) -> None:
        self.plan, self.logs, self.running, self.timing, self.waits = (
            plan,
            logs,
            running,
            timing,
            waits,
        )
        self.wait: Wait | None = None
        self.checks: list[PromotionCheck] = []
        self._opened: set[str] = set()  # environments whose promotion gates held
        self._closed: set[str] = set()  # environments that must wait (soak, gate)

    def env_open(self, wave_index: int, states: Mapping[str, UnitState]) -> bool:
        """Whether the first unit of a new environment may start: soak passed, gate held."""
        plan, timing = self.plan, self.timing
        wave = plan.waves[wave_index]
        if timing is None or plan.promotion is None or wave.env in self._opened:
            return True
        if wave.env in self._closed:  # asked already in this evaluation: same answer
            return False
        earlier = [w for w in plan.waves[:wave_index] if w.env != wave.env]
        started = any(
            states[u.id] is not UnitState.PENDING
            for w in plan.waves
            if w.env == wave.env
            for b in w.batches
            for u in b.units
        )
        if not earlier or started:
            self._opened.add(wave.env)
            return True
        previous = earlier[-1].env
        soak = soak_wait(previous, plan.promotion.soak_of(previous), timing, self.waits)
        if soak is not None:
            self.wait = self.wait or soak
            self._closed.add(wave.env)
            return False
        gate_id = f"gate/{wave.env}"
        last = self.logs.get(gate_id, _StepLog()).last
        if last == "succeeded":
            self._opened.add(wave.env)
            return True
        if timing.live and gate_id not in self.running and last != "failed":
            units = tuple(
                u.id for w in earlier if w.env == previous for b in w.batches for u in b.units
            )
            self.checks.append(PromotionCheck(gate_id, wave.env, previous, units))
        self._closed.add(wave.env)
        return False

    def batch_open(self, wave: Wave, batch: Batch, label: str) -> bool:
        """Whether a new unit of ``batch`` may start now: inside its window's slot."""
        if self.timing is None or batch.slot is None or not batch.slot.window:
            return True
        wait = window_wait(
            batch.id, label, batch.slot.window, wave.env, batch.slot.start, self.timing, self.waits
        )
        if wait is None:
            return True
        self.wait = self.wait or wait
        return False


def _schedule(
    plan: Plan,
    states: dict[str, UnitState],
    pending_work: Mapping[str, Work],
    control: str,
    held_envs: tuple[str, ...],
    stopped: bool,
    gates: _Gates,
) -> tuple[Work, ...]:
    """The work to start now, walking waves and batches in order.

    Units in progress always get their next step. A pending unit starts only when every
    earlier batch is finished and fewer than ``max_concurrency`` units are in progress;
    otherwise it stays pending (``pause``, a gate) or is marked, in ``states``, held (its
    environment is held) or skipped (the run stopped, a person aborted, or its batch
    requires an earlier one of its wave to have succeeded). ``gates`` hold new units for a
    window, a soak or a promotion gate (and record what the run waits for).
    """
    in_progress = sum(
        1 for s in states.values() if s in (UnitState.RUNNING, UnitState.ROLLING_BACK)
    )
    runnable: list[Work] = []
    gate_open = True  # false once an earlier wave/batch is not finished
    for wave_index, wave in enumerate(plan.waves):
        wave_failed = False
        for number, batch in enumerate(wave.batches, 1):
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
                elif (
                    gate_open
                    and in_progress < plan.max_concurrency
                    and gates.env_open(wave_index, states)
                    and gates.batch_open(wave, batch, f"batch {number} of {wave.id}")
                ):
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
