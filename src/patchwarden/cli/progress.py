"""Progress bars for a running plan: one bar per wave, fed by the engine's progress."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from patchwarden.domain.plan import Plan
from patchwarden.service.runs import TERMINAL, UnitState
from patchwarden.service.runs import Progress as EngineProgress

__all__ = ["WaveBars"]


class WaveBars:
    """A bar per wave of a plan: units done, and how many failed or were skipped.

    Use as a context manager around the run; pass :meth:`update` as the runner's progress
    callback. :meth:`track` adds a plan's waves (before or after the bars started).
    """

    def __init__(self, console: Console, *, elapsed: bool = False) -> None:
        columns = [
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
        ]
        if elapsed:
            columns.append(TimeElapsedColumn())
        self._bars = Progress(*columns, console=console)
        self._waves: dict[str, tuple[TaskID, list[str]]] = {}

    def track(self, plan: Plan) -> None:
        """Add a bar for each wave of ``plan``."""
        for wave in plan.waves:
            ids = [u.id for b in wave.batches for u in b.units]
            task = self._bars.add_task(wave.id, total=len(ids), status=wave.strategy)
            self._waves[wave.id] = (task, ids)

    def start(self) -> None:
        """Show the bars."""
        self._bars.start()

    def stop(self) -> None:
        """Stop redrawing (the bars stay on the screen)."""
        self._bars.stop()

    def __enter__(self) -> WaveBars:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def update(self, progress: EngineProgress) -> None:
        """Move each wave's bar to where the engine's progress says it stands."""
        for task, ids in self._waves.values():
            states = Counter(progress.units[i] for i in ids)
            done = sum(n for s, n in states.items() if s in TERMINAL)
            bad = states[UnitState.ROLLED_BACK] + states[UnitState.FAILED]
            skipped = states[UnitState.SKIPPED] + states[UnitState.HELD]
            status = f"[red]{bad} failed/rolled back[/]" if bad else ""
            if skipped:
                status += f" [yellow]{skipped} skipped[/]"
            if not status and done == len(ids):
                status = "[green]done[/]"
            self._bars.update(task, completed=done, status=status)
