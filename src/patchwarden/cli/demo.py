"""``patchwarden demo``: the whole product on a simulated estate, in under a minute."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import TERMINAL, UnitState
from patchwarden.engine.machine import Progress as EngineProgress
from patchwarden.service.demo import run_demo
from patchwarden.store import resolve_url

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the app."""
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("patchwarden-demo"), "--out", help="Where to write report.html."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Database URL (default: PATCHWARDEN_DB, then a file in the user data dir).",
    ),
    seed: int = typer.Option(7, help="Seed of the simulated estate (which host misbehaves)."),
    speed: float = typer.Option(
        3000.0, help="How much faster than real time the simulated clock runs."
    ),
    no_failures: bool = typer.Option(False, "--no-failures", help="Run without injected failures."),
) -> None:
    """Run the whole path on a simulated estate and write a report.

    Assess the demo estate against demo advisories, decide, plan a campaign, run it with
    the engine against simulated drivers, and write DIR/report.html.

    Example: patchwarden demo --out /tmp/pw-demo --seed 3
    """
    console = Console()
    url = resolve_url(db, os.environ)
    bars = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, tuple[TaskID, list[str]]] = {}

    def on_plan(plan: Plan) -> None:
        console.print(
            f"[bold]Plan[/] {plan.campaign!r}: {len(plan.waves)} waves, {len(plan.units())} units, "
            f"hash {plan.digest()[:12]}"
        )
        for wave in plan.waves:
            ids = [u.id for b in wave.batches for u in b.units]
            tasks[wave.id] = (bars.add_task(wave.id, total=len(ids), status=wave.strategy), ids)
        bars.start()

    def on_progress(progress: EngineProgress) -> None:
        for task, ids in tasks.values():
            states = Counter(progress.units[i] for i in ids)
            done = sum(n for s, n in states.items() if s in TERMINAL)
            bad = states[UnitState.ROLLED_BACK] + states[UnitState.FAILED]
            status = (
                f"[red]{bad} rolled back[/]"
                if bad
                else ("[green]done[/]" if done == len(ids) else "")
            )
            bars.update(task, completed=done, status=status)

    try:
        result = run_demo(
            out,
            url,
            seed=seed,
            speed=speed,
            inject_failures=not no_failures,
            on_plan=on_plan,
            on_progress=on_progress,
        )
    finally:
        bars.stop()
    table = Table(title="Outcome", show_header=True)
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_row(
        "open findings", str(len(result.before.findings)), str(len(result.after.findings))
    )
    acts = result.before.actions()
    console.print(
        "Decisions: "
        + ", ".join(f"{n} {a.value}" for a, n in sorted(acts.items(), key=lambda kv: kv[0].value))
    )
    # One example of each action, most urgent first: what the reasons read like.
    for action in ("emergency", "next_window", "defer", "ignore"):
        d = next((d for d in result.before.decisions if d.action.value == action), None)
        if d is not None:
            console.print(f"  {d.asset_id} {d.advisory_id} {d.package}: {d.reason}", markup=False)
    console.print(table)
    units = Counter(result.progress.units.values())
    console.print(
        f"Campaign {result.state}: {units[UnitState.SUCCEEDED]} patched, "
        f"{units[UnitState.ROLLED_BACK]} rolled back, {units[UnitState.FAILED]} failed, "
        f"{units[UnitState.HELD] + units[UnitState.SKIPPED]} held; "
        f"{result.migrations} VM live migrations"
    )
    if result.failures.breaks_health:
        hosts = ", ".join(sorted(result.failures.breaks_health))
        console.print(f"Injected failure: patch breaks the service on {hosts}")
    console.print(f"Report: {result.report['html']}")
