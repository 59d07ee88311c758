"""A run's lifecycle: its states, the commands that move it, and one pure transition function.

The unit-level machine (:mod:`patchwarden.engine.machine`) decides which step runs next; this
one decides what a *run* is: running, paused, rolled back, ... and what a person's request or
the runner's stopping does to it. No I/O: the store keeps the state, the service applies the
answer, and every front end (command line, server) asks the same function.

Rules:
- ``pause`` asks a running run to start no new unit: ``running -> pausing``; the runner then
  stops with ``paused``. Pausing a run already pausing or paused changes nothing.
- ``resume`` carries a paused (or interrupted) run on: ``paused|pausing|running -> running``.
  A run being aborted or rolled back carries on as it was (the request stands); an ended run
  has nothing to resume: the answer is ``unchanged`` with the run as it is, not an error, so
  a supervisor that always resumes after a crash sees success when the crash came last.
- ``abort`` skips every unit not yet started: any live state (not ``rolling_back``, which
  already skips them and goes further) ``-> aborting``; the runner then stops ``aborted``.
- ``rollback`` undoes every unit that succeeded, last first, from any state but
  ``rolled_back`` (done already): ``-> rolling_back``; the runner then stops ``rolled_back``.
  It is the only request an ended run accepts.
- ``hold``: the runner stopped because a step waits for a person (a marginal canary):
  ``running|pausing -> paused``; ``resume`` releases the held step.
- ``finish``: the runner reached the end. What the run was asked decides first
  (``rolling_back -> rolled_back``, ``aborting -> aborted``); otherwise the outcome does:
  ``completed``, ``completed_with_failures`` or ``stopped`` (error budget spent). A runner
  that stops short of the end while pausing is a ``hold`` (``paused``).
- A command not allowed in a state is ``refused``, with the reason in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import Progress, Record, UnitState, evaluate
from patchwarden.engine.timing import Timing

__all__ = [
    "Outcome",
    "Replay",
    "RunCommand",
    "RunState",
    "Transition",
    "Verdict",
    "outcome_of",
    "replay",
    "stop",
    "transition",
]


class RunState(StrEnum):
    """Where a run stands; the store keeps the value."""

    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    ABORTING = "aborting"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    STOPPED = "stopped"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"

    @property
    def ended(self) -> bool:
        """No runner will touch the run again (except for a rollback)."""
        return self in _ENDED

    @property
    def failed(self) -> bool:
        """The run did not do what it was meant to (the command line exits 1)."""
        return self in _FAILED

    @property
    def control(self) -> str:
        """The unit machine's ``control`` for this state (see ``machine.CONTROLS``)."""
        return _CONTROL[self]


class RunCommand(StrEnum):
    """What moves a run: a person's request, or the runner stopping."""

    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    ROLLBACK = "rollback"
    HOLD = "hold"
    FINISH = "finish"

    @property
    def by_person(self) -> bool:
        """A request a person makes (``hold`` and ``finish`` are the runner's)."""
        return self not in (RunCommand.HOLD, RunCommand.FINISH)


class Outcome(StrEnum):
    """How the runner's work came out, for ``finish``."""

    CLEAN = "clean"
    """Every unit succeeded (or was left alone on purpose)."""
    FAILURES = "failures"
    """Some units failed or were rolled back, within the error budget."""
    STOPPED = "stopped"
    """More units failed than the error budget allows; the rest were skipped."""


class Verdict(StrEnum):
    """Whether a command moved the run."""

    MOVED = "moved"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class Transition:
    """The answer: the state after the command, whether it moved, and why not."""

    state: RunState
    verdict: Verdict
    reason: str = ""


_ENDED = frozenset(
    {
        RunState.COMPLETED,
        RunState.COMPLETED_WITH_FAILURES,
        RunState.STOPPED,
        RunState.ABORTED,
        RunState.ROLLED_BACK,
    }
)
_FAILED = frozenset(
    {RunState.COMPLETED_WITH_FAILURES, RunState.STOPPED, RunState.ABORTED, RunState.ROLLED_BACK}
)
_CONTROL = {
    RunState.RUNNING: "",
    RunState.PAUSING: "pause",
    RunState.PAUSED: "pause",
    RunState.ABORTING: "abort",
    RunState.ROLLING_BACK: "rollback",
    RunState.COMPLETED: "",
    RunState.COMPLETED_WITH_FAILURES: "",
    RunState.STOPPED: "",
    RunState.ABORTED: "abort",
    RunState.ROLLED_BACK: "rollback",
}
_FINISHED = {
    Outcome.CLEAN: RunState.COMPLETED,
    Outcome.FAILURES: RunState.COMPLETED_WITH_FAILURES,
    Outcome.STOPPED: RunState.STOPPED,
}


def _move(state: RunState, to: RunState) -> Transition:
    return Transition(to, Verdict.UNCHANGED if to is state else Verdict.MOVED)


def _refuse(state: RunState, why: str) -> Transition:
    return Transition(state, Verdict.REFUSED, why)


def transition(
    state: RunState, command: RunCommand, outcome: Outcome = Outcome.CLEAN
) -> Transition:
    """The run's next state after ``command`` (see the rules in the module docstring).

    ``outcome`` matters only for ``finish``.

    Example:
        >>> transition(RunState.RUNNING, RunCommand.PAUSE).state
        <RunState.PAUSING: 'pausing'>
        >>> transition(RunState.COMPLETED, RunCommand.RESUME).verdict
        <Verdict.UNCHANGED: 'unchanged'>
    """
    if command is RunCommand.ROLLBACK:
        if state is RunState.ROLLED_BACK:
            return _refuse(state, "it is rolled back already")
        return _move(state, RunState.ROLLING_BACK)
    if state in _ENDED:
        if command is RunCommand.RESUME:
            return Transition(state, Verdict.UNCHANGED, f"it has already ended ({state})")
        return _refuse(state, f"it has ended ({state}); nothing to {command}")
    if command is RunCommand.PAUSE:
        if state in (RunState.ABORTING, RunState.ROLLING_BACK):
            return _refuse(state, f"it is {state.replace('_', ' ')}; that goes on to the end")
        return _move(state, RunState.PAUSED if state is RunState.PAUSED else RunState.PAUSING)
    if command is RunCommand.RESUME:
        if state in (RunState.ABORTING, RunState.ROLLING_BACK):
            return _move(state, state)  # the request stands: carry it on
        return _move(state, RunState.RUNNING)
    if command is RunCommand.ABORT:
        if state is RunState.ROLLING_BACK:
            return _refuse(state, "it is rolling back, which skips every unit not started too")
        return _move(state, RunState.ABORTING)
    if command is RunCommand.HOLD:
        if state in (RunState.ABORTING, RunState.ROLLING_BACK):
            return _move(state, state)  # stopped short of its request: resume carries it on
        return _move(state, RunState.PAUSED)
    # FINISH: a person's request decides the name of the end, else the outcome.
    if state is RunState.ROLLING_BACK:
        return _move(state, RunState.ROLLED_BACK)
    if state is RunState.ABORTING:
        return _move(state, RunState.ABORTED)
    return _move(state, _FINISHED[outcome])


def outcome_of(progress: Progress) -> Outcome:
    """How a finished run's units came out, for ``finish``."""
    if progress.stopped:
        return Outcome.STOPPED
    if progress.count(UnitState.FAILED) or progress.count(UnitState.ROLLED_BACK):
        return Outcome.FAILURES
    if progress.held_envs:  # a promotion gate failed: later environments never ran
        return Outcome.FAILURES
    return Outcome.CLEAN


def stop(state: RunState, progress: Progress) -> Transition:
    """The run's state once its runner stops: ``finish`` when done, else ``hold``."""
    if progress.done:
        return transition(state, RunCommand.FINISH, outcome_of(progress))
    return transition(state, RunCommand.HOLD)


@dataclass(frozen=True)
class Replay:
    """A run's journal read back: the machine's progress and the steps still in flight."""

    progress: Progress
    in_flight: frozenset[str]
    """Steps journaled as started and not yet finished (running, or cut off by a crash)."""


def replay(
    plan: Plan, records: Sequence[Record], state: RunState, now: datetime | None = None
) -> Replay:
    """What a run's journal shows, read with the control of its state.

    The one reading of a journal: status, reports and promotion gates all call it, so a
    rolled-back run is rolled back in each of them (without the run's control, the machine
    would read a unit that succeeded and was then undone as succeeded). With ``now`` (the
    run's latest journal time), a journaled wait (window, soak) not yet over is reported.

    Example:
        >>> from patchwarden.domain.plan import Plan
        >>> empty = Plan(campaign="c", created_at="2026-11-24T00:00:00Z", environments=(),
        ...              waves=())
        >>> replay(empty, [], RunState.COMPLETED).progress.done
        True
    """
    started = {r.step_id for r in records if r.event == "started"}
    ended = {r.step_id for r in records if r.event in ("succeeded", "failed")}
    in_flight = frozenset(started - ended)
    timing = Timing(now, live=False) if now is not None else None
    return Replay(evaluate(plan, records, in_flight, state.control, timing), in_flight)
