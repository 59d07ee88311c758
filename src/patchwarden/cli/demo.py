"""``patchwarden demo``: the whole product on a simulated estate, in under a minute."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchwarden.cli.progress import WaveBars
from patchwarden.domain.plan import Plan
from patchwarden.service.demo import DemoResult, run_demo
from patchwarden.service.runs import UnitState
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
    bars = WaveBars(console, elapsed=True)

    def on_plan(plan: Plan) -> None:
        console.print(
            f"[bold]Plan[/] {plan.campaign!r}: {len(plan.waves)} waves, {len(plan.units())} units, "
            f"hash {plan.digest()[:12]}"
        )
        bars.track(plan)
        bars.start()

    try:
        result = run_demo(
            out,
            resolve_url(db, os.environ),
            seed=seed,
            speed=speed,
            inject_failures=not no_failures,
            on_plan=on_plan,
            on_progress=bars.update,
        )
    finally:
        bars.stop()
    _print_decisions(console, result)
    _print_outcome(console, result)


def _print_decisions(console: Console, result: DemoResult) -> None:
    """How many findings got each action, and one reason of each, most urgent first."""
    acts = result.before.actions()
    console.print(
        "Decisions: "
        + ", ".join(f"{n} {a.value}" for a, n in sorted(acts.items(), key=lambda kv: kv[0].value))
    )
    for action in ("emergency", "next_window", "defer", "ignore"):
        d = next((d for d in result.before.decisions if d.action.value == action), None)
        if d is not None:
            console.print(f"  {d.asset_id} {d.advisory_id} {d.package}: {d.reason}", markup=False)


def _print_outcome(console: Console, result: DemoResult) -> None:
    """Findings before and after, what the campaign did, and where the report is."""
    table = Table(title="Outcome", show_header=True)
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_row(
        "open findings", str(len(result.before.findings)), str(len(result.after.findings))
    )
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
