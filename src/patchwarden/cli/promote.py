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

from patchwarden.cli.options import echo_warnings, parse_at
from patchwarden.cli.rows import check_format
from patchwarden.service.promotion import Gate, promotion
from patchwarden.store import open_store, resolve_url

__all__ = ["register", "render_gates"]


def register(app: typer.Typer) -> None:
    """Add the ``promote`` command to the app."""
    app.command("promote")(promote)


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
    check_format(fmt)
    with open_store(resolve_url(db, os.environ)) as store:
        found = promotion(store, campaign, inventory, advisories, parse_at(at))
    echo_warnings(found.warnings)
    if fmt == "json":
        typer.echo(json.dumps([asdict(g) for g in found.gates], indent=2, default=str))
        return
    typer.echo(render_gates(found.campaign, found.order, found.gates), nl=False)


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
