"""Long work the server does in the background: scans of real hosts, feed syncs.

A request that starts such work answers 202 with the task's id as soon as it is accepted;
the work goes on in a thread of the server, as a run does (:mod:`patchwarden.server.workers`).
While it runs, the task shows its progress (what it is doing, done of total). Its start
and its end (state, summary or error) are entries of the audit trail (``scan.start``,
``scan.end``, ``feeds.sync.start``, ...; object ``task``), so a task is still known after
the server restarts: one that started and never ended there is ``interrupted``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from patchwarden.errors import InputError, PatchwardenError
from patchwarden.service.audit import Actor, AuditFilter, record
from patchwarden.store import Store

__all__ = ["Progress", "Task", "TaskBoard", "board"]

_log = logging.getLogger("patchwarden.server.tasks")


@dataclass
class Task:
    """One piece of background work, as its status shows it."""

    id: str
    kind: str
    started_by: str
    started_at: datetime
    environments: list[str] = field(default_factory=list)
    state: str = "running"
    """``running``, ``completed``, ``failed``, or ``interrupted`` (the server stopped)."""
    what: str = ""
    done: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    request: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The task as the API answers it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "started_by": self.started_by,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "environments": list(self.environments),
            "progress": {"what": self.what, "done": self.done, "total": self.total},
            "request": self.request,
            "result": self.result,
            "error": self.error,
        }


class Progress:
    """What a task's work calls to say how far it is: ``progress(what, done, total)``."""

    def __init__(self, task: Task, lock: threading.Lock) -> None:
        self._task = task
        self._lock = lock

    @property
    def task_id(self) -> str:
        """The id of the task this reports for (its work names it in what it records)."""
        return self._task.id

    def __call__(self, what: str, done: int, total: int | None) -> None:
        """Record that the task is doing ``what``, ``done`` of ``total`` (``None``: unknown)."""
        with self._lock:
            self._task.what, self._task.done, self._task.total = what, done, total


Work = Callable[[Progress], dict[str, Any]]
"""A task's work: given its progress callback, returns the summary it ends with."""


class TaskBoard:
    """The background tasks of this server, and those the audit trail remembers."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._tasks: dict[str, Task] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(
        self,
        kind: str,
        actor: Actor,
        work: Work,
        *,
        request: dict[str, Any],
        environments: Sequence[str] = (),
        total: int | None = None,
    ) -> Task:
        """Audit ``KIND.start``, then run ``work`` in a new thread; returns the running task."""
        task = Task(
            uuid.uuid4().hex, kind, actor.name, datetime.now(UTC).replace(microsecond=0),
            sorted(environments), request=request, total=total, what="starting",
        )  # fmt: skip
        record(
            self._store, actor, f"{kind}.start", "task", task.id,
            details={"request": request, "environments": task.environments, "total": total},
        )  # fmt: skip
        thread = threading.Thread(
            target=self._run, args=(task, actor, work), name=f"{kind}-{task.id[:8]}", daemon=True
        )
        with self._lock:
            self._tasks[task.id] = task
            self._threads[task.id] = thread
        thread.start()
        return task

    def _run(self, task: Task, actor: Actor, work: Work) -> None:
        state, result, error = "completed", {}, None
        try:
            result = work(Progress(task, self._lock))
        except InputError as error_:
            state, error = "failed", str(error_)
        except PatchwardenError as error_:
            state, error = "failed", str(error_)
            _log.error("%s %s failed: %s", task.kind, task.id, error_)
        except Exception:
            # The cause may name hosts or paths: it goes to the server's log, not the answer.
            state, error = "failed", "internal error; see the server log"
            _log.exception("%s %s failed", task.kind, task.id)
        finished = datetime.now(UTC).replace(microsecond=0)
        try:
            record(
                self._store, actor, f"{task.kind}.end", "task", task.id,
                details={"state": state, "error": error, "result": _summary(result)},
            )  # fmt: skip
        except PatchwardenError:
            _log.exception("%s %s: its end could not be audited", task.kind, task.id)
        with self._lock:
            task.state, task.result, task.error, task.finished_at = state, result, error, finished
            if state == "completed" and task.total is not None:
                task.done = task.total

    def get(self, kind: str, task_id: str) -> Task | None:
        """The task of that kind and id: live if this server runs it, else from the trail."""
        with self._lock:
            live = self._tasks.get(task_id)
            if live is not None and live.kind == kind:
                return _copy(live)
        found = self._from_trail(kind, task_id)
        return found[0] if found else None

    def tasks(self, kind: str) -> list[Task]:
        """Every task of ``kind``, oldest first, live ones with their progress."""
        return self._from_trail(kind, None)

    def _from_trail(self, kind: str, task_id: str | None) -> list[Task]:
        entries = self._store.audit.entries(
            AuditFilter(action=f"{kind}.", object_type="task", object_id=task_id)
        )
        out: dict[str, Task] = {}
        for entry in entries:
            if entry.action == f"{kind}.start":
                d = entry.details
                out[entry.object_id] = Task(
                    entry.object_id, kind, entry.actor, entry.at, list(d.get("environments", [])),
                    state="interrupted", request=dict(d.get("request", {})), total=d.get("total"),
                )  # fmt: skip
            elif entry.action == f"{kind}.end" and entry.object_id in out:
                task = out[entry.object_id]
                task.state = str(entry.details.get("state", "completed"))
                task.error = entry.details.get("error")
                task.result = dict(entry.details.get("result", {}))
                task.finished_at = entry.at
                task.done = task.total or 0
        with self._lock:
            for ident, live in self._tasks.items():
                if ident in out:
                    out[ident] = _copy(live)
        return list(out.values())

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every task to end; ``True`` if all did."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)


def _copy(task: Task) -> Task:
    return Task(**{**vars(task), "result": dict(task.result), "request": dict(task.request)})


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """What of a result goes into the trail: its counts and names, not bulky rows."""
    return {k: v for k, v in result.items() if k not in ("scans", "sources_detail")}


def board(request: Request) -> TaskBoard:
    """The background tasks of the server that serves ``request``."""
    tasks: TaskBoard = request.app.state.tasks
    return tasks
