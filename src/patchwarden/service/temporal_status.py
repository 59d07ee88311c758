"""What Temporal knows of a run that its journal cannot say: the server's view of a workflow.

The journal, written by the activities, is the record of what happened on the hosts, and
``status``, the API and the dashboard read a Temporal run from it like any other. Some
things only Temporal and the workflow know:

- whether the workflow still runs at all (it may have been terminated by an operator, or
  have failed, while the run in the store still says ``running``);
- steps the workflow has handed to a task queue that no worker has taken yet (no worker of
  that site is running): nothing is journaled until a worker starts them;
- a step retried by Temporal (its worker died, the store was unreachable): the attempt and
  the last failure;
- what the workflow waits for now: steps held for a person, a pause (its ``status`` query,
  answered by a worker).

:func:`workflow_view` asks Temporal (where the run recorded its workflow was started) and
puts that beside the journal's steps in flight. It never raises for Temporal's sake: an
unreachable server, or no worker to answer the query, is part of the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from patchwarden.service.temporal import temporal_run
from patchwarden.store import RunRecord

__all__ = ["PendingActivity", "WorkflowView", "not_started", "workflow_view"]

_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class PendingActivity:
    """An activity Temporal has scheduled and not seen finish (from the workflow's description)."""

    activity: str
    """Its type, e.g. ``patchwarden.run_step``."""
    queue: str
    state: str
    """``scheduled`` (no worker has taken it), ``started``, ``cancel_requested``, ..."""
    attempt: int
    last_failure: str
    """Why the attempt before failed (a worker's heartbeat missed, the store unreachable)."""


@dataclass(frozen=True)
class WorkflowView:
    """A Temporal run's workflow as Temporal sees it, beside its journal.

    ``execution`` is the workflow's status in Temporal (``running``, ``completed``,
    ``failed``, ``terminated``, ...) or ``unreachable`` (``error`` says why). The rest comes
    from the workflow's ``status`` query while it runs and a worker answers it
    (``answered``): the steps it has handed out, those of them no worker has started yet
    (nothing in the journal), the steps held for a person, and a person's last request.
    """

    workflow_id: str
    address: str
    namespace: str
    execution: str
    error: str = ""
    answered: bool = False
    handed_out: tuple[str, ...] = ()
    not_started: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    control: str = ""
    pending: tuple[PendingActivity, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The view as JSON values (tuples as lists)."""
        found = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in found.items()}


def not_started(handed_out: Collection[str], in_flight: Collection[str]) -> tuple[str, ...]:
    """Steps the workflow handed out that the journal shows no worker has started.

    Rule: a step is in flight in the journal once a worker journaled its ``started``; the
    workflow counts it from the moment it scheduled it. The difference waits on its queue.

    >>> not_started(["w/a/00-patch", "w/b/00-patch"], {"w/a/00-patch"})
    ('w/b/00-patch',)
    """
    started = set(in_flight)
    return tuple(sorted(s for s in handed_out if s not in started))


def pending_activity(info: PendingActivityInfo) -> PendingActivity:
    """One pending activity of a workflow's description, as plain values."""
    state = PendingActivityState.Name(info.state).removeprefix("PENDING_ACTIVITY_STATE_")
    failure = info.last_failure
    why = failure.message if info.HasField("last_failure") else ""
    if why and failure.HasField("cause") and failure.cause.message:
        why = f"{why}: {failure.cause.message}"
    return PendingActivity(
        info.activity_type.name,
        info.activity_options.task_queue.name,
        state.lower(),
        info.attempt,
        why,
    )


def workflow_view(
    run: RunRecord, in_flight: Collection[str], *, timeout: float = _TIMEOUT_S
) -> WorkflowView | None:
    """Ask Temporal about the run's workflow; ``None`` for a run Temporal does not drive.

    Called from synchronous code (the server's request threads, the CLI); waits at most
    about ``timeout`` seconds for each question to Temporal.
    """
    where = temporal_run(run)
    if where is None:
        return None
    return asyncio.run(_ask(where, in_flight, timeout))


async def _ask(
    where: Mapping[str, Any], in_flight: Collection[str], timeout: float
) -> WorkflowView:
    ident = str(where.get("workflow_id", ""))
    address = str(where.get("address", ""))
    namespace = str(where.get("namespace", "default"))

    def view(execution: str, **rest: Any) -> WorkflowView:
        return WorkflowView(ident, address, namespace, execution, **rest)

    rpc = timedelta(seconds=timeout)
    try:
        client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
        handle = client.get_workflow_handle(ident)
        described = await handle.describe(rpc_timeout=rpc)
    except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
        return view("unreachable", error=f"cannot ask Temporal at {address}: {exc or 'timed out'}")
    status = described.status
    execution = status.name.lower() if status is not None else "unknown"
    pending = tuple(pending_activity(p) for p in described.raw_description.pending_activities)
    if status != WorkflowExecutionStatus.RUNNING:
        return view(execution, pending=pending)
    try:
        answer = await handle.query("status", rpc_timeout=rpc)
    except (RPCError, TimeoutError) as exc:
        # Queries are answered by a worker of the workflow's queue: none may be running.
        why = f"no worker answered the workflow's status query: {exc or 'timed out'}"
        return view(execution, error=why, pending=pending)
    handed = tuple(str(s) for s in answer.get("running", []))
    return view(
        execution,
        answered=True,
        handed_out=handed,
        not_started=not_started(handed, in_flight),
        waiting=tuple(str(s) for s in answer.get("waiting", [])),
        control=str(answer.get("control", "")),
        pending=pending,
    )
