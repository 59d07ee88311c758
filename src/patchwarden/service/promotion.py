"""Promotion evidence from the store: every run's unit results, judged against a re-scan.

The gates themselves (``planning.promotion``) are pure; this module reads what they judge:
each run's journal, replayed as ``status`` replays it (so a rolled-back unit counts as
failed, not succeeded), and the latest stored assessment as the re-scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import UnitState
from patchwarden.planning.promotion import (
    Gate,
    PatchOutcome,
    Rescan,
    UnitResult,
    needed_by_env,
    outcomes_of_plan,
    promotion_gates,
    promotion_order,
)
from patchwarden.service.apply import plan_from_files
from patchwarden.service.replay import RunTrace, trace_run
from patchwarden.store import JournalEvent, Store

__all__ = ["Gate", "Promotion", "promotion", "stored_outcomes"]

_RESULT = {
    UnitState.SUCCEEDED: "succeeded",
    UnitState.FAILED: "failed",
    UnitState.ROLLED_BACK: "failed",
    UnitState.RUNNING: "running",
    UnitState.ROLLING_BACK: "running",
}


def _unit_results(trace: RunTrace, events: Sequence[JournalEvent]) -> dict[str, UnitResult]:
    plan, progress = trace.plan, trace.progress
    health_steps = {s.id for u in plan.units() for s in u.steps if s.action.value == "health"}
    results = {}
    for unit in plan.units():
        result = _RESULT.get(progress.units[unit.id])
        if result is None:  # pending, held or skipped: it never ran
            continue
        mine = [e for e in events if e.step_id.startswith(unit.id + "/")]
        # A health check that had to be retried, or reports restarts, means the service
        # flapped after the patch: the restart-loop check counts both.
        restarts = sum(1 for e in mine if e.event == "retry" and e.step_id in health_steps)
        restarts += sum(
            int(e.payload.get("restarts", 0))
            for e in mine
            if e.step_id in health_steps and e.event == "succeeded"
        )
        results[unit.id] = UnitResult(
            result,  # type: ignore[arg-type]  # one of the outcome literals, set just above
            max((e.at for e in mine), default=None),
            health_ok=result != "failed",
            restarts=restarts,
        )
    return results


def stored_outcomes(store: Store) -> list[PatchOutcome]:
    """Every patch outcome the store's runs show, judged against the latest re-scan."""
    latest = store.latest_assessment()
    rescan = None
    if latest is not None:
        still = frozenset((f.asset_id, f.package) for f in store.findings_for(latest.id))
        rescan = Rescan(latest.created_at, still)
    outcomes: list[PatchOutcome] = []
    for run in store.runs():
        record = store.get_plan(run.plan_hash)
        if record is None:
            continue
        trace = trace_run(store, run, Plan.model_validate(record.data))
        results = _unit_results(trace, store.events(run.id))
        outcomes += outcomes_of_plan(trace.plan, results, rescan)
    return outcomes


@dataclass(frozen=True)
class Promotion:
    """What may move where: the campaign, its environments in order, a gate per patch and env."""

    campaign: str
    order: tuple[str, ...]
    gates: tuple[Gate, ...]
    warnings: tuple[str, ...] = ()
    """Advisory files' records that were skipped, and why."""


def promotion(
    store: Store,
    campaign: Path,
    inventory_files: Sequence[Path],
    advisory_files: Sequence[Path],
    now: datetime,
) -> Promotion:
    """Each patch's gate per environment as of ``now``, from the stored runs and re-scan.

    The plan is the one every command plans from the same inputs (``plan_from_files``).

    Raises:
        ValidationFailed: a bad campaign, inventory or advisory file.
    """
    built, warnings = plan_from_files(store, campaign, inventory_files, advisory_files, now)
    outcomes = stored_outcomes(store)
    order = promotion_order(built.campaign.promotion, built.plan.environments)
    gates = promotion_gates(
        order, built.campaign.promotion, outcomes, now, needed_by_env(built.plan)
    )
    return Promotion(built.campaign.name, tuple(order), tuple(gates), tuple(warnings))
