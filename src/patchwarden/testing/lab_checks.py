"""What a crash test checks after a campaign on the lab: installs counted, journal sound.

A campaign that was interrupted (a runner, a worker, Temporal or the database killed) must
still leave every host patched exactly once and its journal whole. These are the checks of
the fault tests (the rules of the chaos test), read from the hosts' own files and the store.

Example:
    >>> from datetime import UTC, datetime
    >>> from patchwarden.store.records import JournalEvent
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> events = [
    ...     JournalEvent("r", 1, at, "s1", "started", {}),
    ...     JournalEvent("r", 2, at, "s1", "succeeded", {}),
    ... ]
    >>> journal_problems(events, finished=True)
    []
    >>> journal_problems(events[:1], finished=True)
    ["started without an outcome: ['s1']"]
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from patchwarden.store.records import JournalEvent
from patchwarden.testing.lab_controller import processes_rooted_in

__all__ = ["OUTCOMES", "dpkg_installs", "dpkg_running", "journal_problems"]

OUTCOMES = ("succeeded", "failed")


def journal_problems(events: Sequence[JournalEvent], finished: bool) -> list[str]:
    """What is wrong with a run's journal, as sentences; empty when it is sound.

    Rules: ``seq`` is contiguous from 1; no outcome or observation of a step without an
    open ``started``; when ``finished``, every started step has an outcome. A step started
    again (a retry after a crash) before its outcome is allowed: steps are idempotent.
    """
    problems = []
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(events) + 1)):
        problems.append(f"seq not contiguous from 1: {seqs}")
    open_steps: set[str] = set()
    for e in events:
        if e.event == "started":
            open_steps.add(e.step_id)
        elif e.step_id not in open_steps:
            problems.append(f"seq {e.seq}: {e.event} of {e.step_id} without an open start")
        elif e.event in OUTCOMES:
            open_steps.discard(e.step_id)
    if finished and open_steps:
        problems.append(f"started without an outcome: {sorted(open_steps)}")
    return problems


def dpkg_installs(log: Path, offset: int) -> list[str]:
    """``name:arch version`` of every install dpkg logged after byte ``offset`` of ``log``.

    One ``status installed`` line per package dpkg configured: a package installed twice
    shows twice, which is how a test sees a step carried out again after a crash.
    """
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [line.split(" status installed ")[1] for line in lines if " status installed " in line]


def dpkg_running(root: Path) -> bool:
    """Whether a ``dpkg`` process runs inside the host whose root folder is ``root``."""
    for pid in processes_rooted_in(root):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "dpkg":
                return True
    return False
