"""Runs driven by the server: one background thread per run, as ``apply`` drives one.

A request that starts (or resumes, or rolls back) a run answers as soon as the run is
open; the run goes on in a thread of the server process, holding the run's lease like any
runner. Its progress is in the journal, which ``/runs/{id}/events`` streams. If the server
stops midway, the lease runs out and ``POST /runs/{id}/resume`` carries the run on.
"""

from __future__ import annotations

import logging
import threading

from patchwarden.errors import PatchwardenError
from patchwarden.service.audit import Actor
from patchwarden.service.execution import RunSetup, carry_out
from patchwarden.store import Store

__all__ = ["RunWorkers"]

_log = logging.getLogger("patchwarden.server.runs")


class RunWorkers:
    """The runs this server process drives, each in its own thread."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, setup: RunSetup, actor: Actor) -> None:
        """Drive ``setup`` to its end or a pause in a new thread; the lease is already held."""
        thread = threading.Thread(
            target=self._drive, args=(setup, actor), name=f"run-{setup.run.id[:8]}", daemon=True
        )
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[setup.run.id] = thread
        thread.start()

    def _drive(self, setup: RunSetup, actor: Actor) -> None:
        try:
            state = carry_out(self._store, setup, actor.name, source=actor.source)
            _log.info("run %s stopped: %s", setup.run.id, state.value)
        except PatchwardenError as error:
            # The run's own failures are in its journal; this is what stopped the runner.
            _log.error("run %s: the runner stopped: %s", setup.run.id, error)
        except Exception:
            _log.exception("run %s: the runner failed", setup.run.id)

    def driving(self) -> list[str]:
        """Ids of the runs this process is driving now."""
        with self._lock:
            return sorted(k for k, t in self._threads.items() if t.is_alive())

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every run to stop; ``True`` if all did."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)
