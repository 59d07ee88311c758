"""``patchwarden apply | status | pause | resume | abort | rollback``."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import TERMINAL, UnitState
from patchwarden.engine.machine import Progress as EngineProgress
from patchwarden.engine.steps import Drivers
from patchwarden.errors import UsageError
from patchwarden.service.apply import authorize, load_inventory, prepare_plan, sim_drivers_for_run
from patchwarden.service.change import finish_change, start_change
from patchwarden.service.real import (
    load_real_inventory,
    real_inventory_files,
    real_run_drivers,
    real_summary,
)
from patchwarden.service.runs import RunStatus, drive, load_plan, request, run_status, start_run
from patchwarden.store import RunRecord, Store, open_store, resolve_url

__all__ = ["register"]

_DB = typer.Option(
    None, "--db", help="Database URL (default: PATCHWARDEN_DB, then the user data dir)."
)
# run state -> change outcome; a pause leaves the change in progress.
_CHANGE_OUTCOME: dict[str, Literal["completed", "rolled_back", "failed"]] = {
    "completed": "completed",
    "rolled_back": "rolled_back",
    "aborted": "rolled_back",
}
_FAILED = {"stopped", "completed_with_failures", "rolled_back", "aborted"}


def register(app: typer.Typer) -> None:
    """Add the run commands to the app."""
    app.command("apply")(apply)
    app.command("status")(status)
    app.command("resume")(resume)
    for name in ("pause", "abort", "rollback"):
        app.command(name, help=_REQUEST_HELP[name])(_requester(name))


def _bars(console: Console) -> tuple[Progress, dict[str, tuple[TaskID, list[str]]]]:
    bars = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
    )
    return bars, {}


def _track(plan: Plan, bars: Progress, tasks: dict[str, tuple[TaskID, list[str]]]) -> None:
    for wave in plan.waves:
        ids = [u.id for b in wave.batches for u in b.units]
        tasks[wave.id] = (bars.add_task(wave.id, total=len(ids), status=wave.strategy), ids)


def _update(
    progress: EngineProgress, bars: Progress, tasks: dict[str, tuple[TaskID, list[str]]]
) -> None:
    for task, ids in tasks.values():
        states = Counter(progress.units[i] for i in ids)
        done = sum(n for s, n in states.items() if s in TERMINAL)
        bad = states[UnitState.ROLLED_BACK] + states[UnitState.FAILED]
        skipped = states[UnitState.SKIPPED] + states[UnitState.HELD]
        status = f"[red]{bad} failed/rolled back[/]" if bad else ""
        if skipped:
            status += f" [yellow]{skipped} skipped[/]"
        bars.update(
            task, completed=done, status=status or ("[green]done[/]" if done == len(ids) else "")
        )


def apply(
    source: Path = typer.Argument(
        ..., help="A campaign YAML, or a plan JSON from `patchwarden plan --format json`."
    ),
    inventory: list[Path] = typer.Option(
        None, "--inventory", "-i", help="Inventory files (default: the demo estate)."
    ),
    sim: bool = typer.Option(
        True, "--sim/--real", help="Run on the simulated estate (what-if) or on the real hosts."
    ),
    seed: int = typer.Option(0, help="Seed of the simulated estate."),
    speed: float = typer.Option(3000.0, help="Simulated clock speed-up."),
    db: str | None = _DB,
) -> None:
    """Compile (or load) a plan and run it with the engine, journaling every step.

    With --real, hosts are reached as the inventory says (SSH settings from
    PATCHWARDEN_SSH_KEY and PATCHWARDEN_SSH_KNOWN_HOSTS); a run killed midway carries on
    with `patchwarden resume`.

    Example: patchwarden apply campaign.yaml --inventory inventory.yaml --sim
    Example: patchwarden apply plan.json --inventory lab-inventory.yaml --real
    """
    console = Console()
    now = datetime.now(UTC).replace(microsecond=0)
    with open_store(resolve_url(db, os.environ)) as store:
        if not sim and not inventory:
            raise UsageError("--real needs --inventory: the hosts to patch and how to reach them")
        prepared = prepare_plan(store, source, inventory or [], now)
        change = None
        if sim:
            console.print("simulated estate: nothing real is touched, no change approval needed")
        else:
            # Real work: the approved change's plan, inside a maintenance window, or nothing.
            prepared, change = authorize(store, prepared, now)
            if change is not None:
                start_change(store, prepared.plan, _user(), now)
                console.print(f"{change.label} approved by {', '.join(change.approvers)}")
        plan = prepared.plan
        run = start_run(store, plan, now)
        console.print(
            f"run [bold]{run.id}[/] of plan {plan.digest()[:12]} ({len(plan.units())} units)"
        )
        if sim:
            drivers, estate = sim_drivers_for_run(prepared.inventory, seed, speed, now, None)
            state = _drive(
                console,
                store,
                run,
                plan,
                drivers,
                lambda: {
                    "sim": {
                        "seed": seed,
                        "inventory": prepared.inventory_files,
                        "state": estate.snapshot(),
                    }
                },
            )
        else:
            real = real_summary(prepared.inventory_files)
            # Recorded before the first step: a runner killed mid-run leaves what resume needs.
            run = store.set_run_state(run.id, run.state, summary=real)
            drivers = real_run_drivers(prepared.inventory).drivers
            state = _drive(console, store, run, plan, drivers, lambda: real)
            if change is not None and state != "paused":
                outcome = _CHANGE_OUTCOME.get(state, "failed")
                finish_change(
                    store, change.id, outcome, _user(), datetime.now(UTC), note=f"run {run.id}"
                )
    if state in _FAILED:
        raise typer.Exit(1)


def _user() -> str:
    """Who is acting, for change records: $USER, as `patchwarden change` uses."""
    return os.environ.get("USER") or "unknown"


def _drive(
    console: Console,
    store: Store,
    run: RunRecord,
    plan: Plan,
    drivers: Drivers,
    summary: Callable[[], dict[str, Any]],
) -> str:
    """Drive ``run`` with progress bars, then print its status; returns its final state."""
    bars, tasks = _bars(console)
    _track(plan, bars, tasks)
    with bars:
        _, state = drive(
            store, run, plan, drivers, lambda p: _update(p, bars, tasks), extra_summary=summary
        )
    _print_status(console, run_status(store, run.id))
    return state


def resume(
    run_id: str = typer.Argument(None, help="The run (default: the latest)."),
    speed: float = typer.Option(3000.0, help="Simulated clock speed-up."),
    db: str | None = _DB,
) -> None:
    """Carry on a paused or interrupted run from its journal.

    Example: patchwarden resume 3f2a...
    """
    with open_store(resolve_url(db, os.environ)) as store:
        run = run_status(store, run_id).run
        if run.state != "rolling_back":  # a requested rollback carries on as a rollback
            run = request(store, run.id, "resume")
        state = _continue(Console(), store, run, speed)
    if state in _FAILED:
        raise typer.Exit(1)


def _continue(console: Console, store: Store, run: RunRecord, speed: float) -> str:
    """Drive an existing run in this process, on the estate it ran on."""
    plan = load_plan(store, run)
    real_files = real_inventory_files(run.summary)
    if real_files is not None:
        real = real_summary(real_files)
        drivers = real_run_drivers(load_real_inventory(real_files)).drivers
        return _drive(console, store, run, plan, drivers, lambda: real)
    sim_state = (run.summary or {}).get("sim")
    if sim_state is None:
        raise UsageError(f"run {run.id} has no recorded estate (sim or real) to resume on")
    sim_drivers, estate = sim_drivers_for_run(
        load_inventory(sim_state.get("inventory", [])).inventory,
        sim_state["seed"],
        speed,
        datetime.now(UTC),
        sim_state["state"],
    )
    return _drive(
        console,
        store,
        run,
        plan,
        sim_drivers,
        lambda: {"sim": {**sim_state, "state": estate.snapshot()}},
    )


def status(
    run_id: str = typer.Argument(None, help="The run (default: the latest)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
) -> None:
    """Where a run stands: waves, failures, canary verdicts.

    Example: patchwarden status --format json
    """
    with open_store(resolve_url(db, os.environ)) as store:
        st = run_status(store, run_id)
    if fmt == "json":
        typer.echo(json.dumps(_status_json(st), indent=2, default=str))
    else:
        _print_status(Console(), st)


_REQUEST_HELP = {
    "pause": "Start no new unit; running ones finish. Example: patchwarden pause RUN",
    "abort": "Skip everything not started; running units finish or roll back. "
    "Example: patchwarden abort RUN",
    "rollback": "Undo every unit that succeeded, last first. Example: patchwarden rollback RUN",
}


def _requester(what: str):  # type: ignore[no-untyped-def]  # typer reads the signature
    def command(
        run_id: str = typer.Argument(..., help="The run."),
        db: str | None = _DB,
    ) -> None:
        with open_store(resolve_url(db, os.environ)) as store:
            before = store.get_run(run_id)
            run = request(store, run_id, what)
            typer.echo(f"run {run.id}: {run.state}")
            # Nobody is driving a paused or ended run: roll it back here and now.
            idle = before is not None and before.state not in ("running", "pausing", "aborting")
            if what == "rollback" and idle:
                state = _continue(Console(), store, run, 3000.0)
                if state != "rolled_back":
                    raise typer.Exit(1)

    command.__doc__ = _REQUEST_HELP[what]
    return command


def _status_json(st: RunStatus) -> dict[str, object]:
    return {
        "run": st.run.id,
        "state": st.run.state,
        "plan": st.run.plan_hash,
        "campaign": st.plan.campaign,
        "done": st.progress.done,
        "units": {s.value: st.progress.count(s) for s in UnitState},
        "waves": [w.__dict__ for w in st.waves],
        "failures": [{"step": s, "error": e} for s, e in st.failures],
        "waiting": [{"step": s, "reason": r} for s, r in st.waiting],
        "canary_analyses": list(st.analyses),
    }


def _print_status(console: Console, st: RunStatus) -> None:
    table = Table(title=f"run {st.run.id[:12]} · {st.plan.campaign} · {st.run.state}")
    for col in (
        "wave",
        "strategy",
        "units",
        "ok",
        "failed",
        "rolled back",
        "skipped/held",
        "in flight",
    ):
        table.add_column(col)
    for w in st.waves:
        c = w.counts
        table.add_row(
            w.wave,
            w.strategy,
            str(w.units),
            str(c.get("succeeded", 0)),
            str(c.get("failed", 0)),
            str(c.get("rolled_back", 0)),
            str(c.get("skipped", 0) + c.get("held", 0)),
            ", ".join(s.rsplit("/", 1)[-1] for s in w.in_flight),
        )
    console.print(table)
    for step_id, reason in st.waiting:
        console.print(f"[yellow]waiting for a person[/] {step_id}: {reason}", highlight=False)
    for step_id, error in st.failures:
        console.print(f"[red]failed[/] {step_id}: {error}", markup=True, highlight=False)
    for a in st.analyses:
        metrics = "; ".join(
            f"{m['name']} canary {m['canary_value']:.4g} vs baseline {m['baseline_value']:.4g}"
            f" (p={m['p_value']:.3g}) {m['outcome']}"
            if m["p_value"] is not None
            else f"{m['name']}: no data"
            for m in a["metrics"]
        )
        head = f"canary analysis {a['step']}: [bold]{a['verdict']}[/] (score {a['score']:.2f})"
        console.print(f"{head} — {a['reason']}; {metrics}")
