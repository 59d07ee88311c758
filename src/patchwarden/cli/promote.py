"""``patchwarden promote``: which patch may move into which environment now, and why not.

The evidence is what the store holds: every run's journal (read through the engine's own
machine, so "succeeded" means what the engine meant) and the latest re-scan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import typer

from patchwarden.cli.plan import load_build, parse_at
from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import Record, UnitState, evaluate
from patchwarden.errors import UsageError
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
from patchwarden.store import JournalEvent, Store, open_store, resolve_url

__all__ = ["register", "render_gates", "stored_outcomes"]

_RESULT = {
    UnitState.SUCCEEDED: "succeeded",
    UnitState.FAILED: "failed",
    UnitState.ROLLED_BACK: "failed",
    UnitState.RUNNING: "running",
    UnitState.ROLLING_BACK: "running",
}


def register(app: typer.Typer) -> None:
    """Add the ``promote`` command to the app."""
    app.command("promote")(promote)


def _unit_results(plan: Plan, events: Sequence[JournalEvent]) -> dict[str, UnitResult]:
    progress = evaluate(plan, [Record(e.step_id, e.event, e.payload) for e in events])
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
        plan = Plan.model_validate(record.data)
        outcomes += outcomes_of_plan(plan, _unit_results(plan, store.events(run.id)), rescan)
    return outcomes


def promote(
    campaign: Path = typer.Argument(..., help="The campaign YAML file (promotion order, soak)."),
    inventory: list[Path] = typer.Option([], "--inventory", "-i", help="Inventory file(s)."),
    advisories: list[Path] = typer.Option([], "--advisories", help="OSV JSON file(s)."),
    at: str | None = typer.Option(None, "--at", help="Judge soak times as of this time."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Show what may move where: each patch per environment, with the reason when it may not.

    A patch enters an environment after it succeeded in the one before, that one's soak
    time passed and its QA checks held (health, no restart loop, re-scan clean). A failure
    holds the patch in every later environment.

    Example: patchwarden promote campaign.yaml --at 2026-11-26T09:00Z
    """
    if fmt not in ("table", "json"):
        raise UsageError(f"--format {fmt!r}: use table or json")
    now = parse_at(at)
    built = load_build(campaign, inventory, advisories, at)
    order = promotion_order(built.campaign.promotion, built.plan.environments)
    with open_store(resolve_url(db, os.environ)) as store:
        outcomes = stored_outcomes(store)
    gates = promotion_gates(
        order, built.campaign.promotion, outcomes, now, needed_by_env(built.plan)
    )
    if fmt == "json":
        typer.echo(json.dumps([asdict(g) for g in gates], indent=2, default=str))
        return
    typer.echo(render_gates(built.campaign.name, order, gates), nl=False)


_SHORT = {"may_enter": "MAY ENTER", "not_needed": "-"}


def render_gates(name: str, order: Sequence[str], gates: Sequence[Gate]) -> str:
    """A matrix of patch by environment, then each patch's next move or what blocks it."""
    patches = sorted({g.patch for g in gates})
    by = {(g.patch, g.env): g for g in gates}
    width = max([len("patch"), *(len(p) for p in patches)])
    cols = [max(len(env), 9) for env in order]
    lines = [f"Promotion of {name!r}: {' -> '.join(order)}", ""]
    lines.append(
        "  ".join(
            ["patch".ljust(width), *(e.ljust(w) for e, w in zip(order, cols, strict=True))]
        ).rstrip()
    )
    for patch in patches:
        cells = [_SHORT.get(by[(patch, e)].status, by[(patch, e)].status) for e in order]
        lines.append(
            "  ".join(
                [patch.ljust(width), *(c.ljust(w) for c, w in zip(cells, cols, strict=True))]
            ).rstrip()
        )
    lines += ["", "Next moves:"]
    for patch in patches:
        row = [by[(patch, e)] for e in order]
        move = next((g for g in row if g.status == "may_enter"), None)
        block = next((g for g in row if g.status in ("waiting", "held", "running")), None)
        failed = next((g for g in row if g.status == "failed"), None)
        if move is not None:
            lines.append(f"  {patch}: may enter {move.env} ({'; '.join(move.reasons)})")
        elif block is not None:
            lines.append(f"  {patch}: not into {block.env}: {'; '.join(block.reasons)}")
        elif failed is not None:
            lines.append(f"  {patch}: failed in {failed.env}: {'; '.join(failed.reasons)}")
        else:
            lines.append(f"  {patch}: done everywhere it is needed")
    return "\n".join(lines) + "\n"
