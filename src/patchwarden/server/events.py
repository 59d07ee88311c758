"""Server-sent events: a run's journal as a ``text/event-stream``, resumable.

Each journal event is one SSE event with ``id:`` its ``seq``, so a browser's
``EventSource`` that reconnects sends ``Last-Event-ID`` and the stream carries on after
it, missing nothing and repeating nothing. After each batch of journal events comes a
``status`` event (the run's state and unit counts); when the run has ended and every
event is sent, an ``end`` event closes the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from patchwarden.service.replay import run_state
from patchwarden.service.runs import UnitState, run_status
from patchwarden.store import Store

__all__ = ["follow_run", "frame", "resume_point"]

HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""


def frame(event: str, data: Any, event_id: int | None = None) -> str:
    r"""One SSE event: its type, optional id, and data as one line of JSON.

    Example:
        >>> frame("journal", {"seq": 3}, 3)
        'id: 3\nevent: journal\ndata: {"seq": 3}\n\n'
    """
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(', ', ': '))}\n\n"


def resume_point(last_event_id: str | None, after: int | None) -> int:
    """The journal ``seq`` to carry on after: ``Last-Event-ID``, else ``after``, else 0.

    An id that is not a whole number (a client's own) starts from the beginning.

    Example:
        >>> resume_point("12", None), resume_point(None, 4), resume_point("x", None)
        (12, 4, 0)
    """
    if last_event_id is not None:
        text = last_event_id.strip()
        return int(text) if text.isdigit() else 0
    return max(after or 0, 0)


def _status(store: Store, run_id: str) -> dict[str, Any]:
    s = run_status(store, run_id)
    return {
        "state": s.run.state,
        "done": s.progress.done,
        "units": {u.value: s.progress.count(u) for u in UnitState if s.progress.count(u)},
        "waves": [
            {"wave": w.wave, "env": w.env, "units": w.units, "counts": w.counts} for w in s.waves
        ],
        "waiting": [{"step": step, "why": why} for step, why in s.waiting],
    }


async def follow_run(
    store: Store,
    run_id: str,
    after: int,
    disconnected: Callable[[], Any],
    *,
    poll_s: float = 0.25,
) -> AsyncIterator[str]:
    """Yield the run's journal after ``after`` as SSE frames until the run has ended.

    The run is read before its journal: a run seen ended had written every event already,
    so the read after it is the last one needed.
    """
    yield "retry: 2000\n\n"
    last, shown, quiet = after, None, 0.0
    while not await disconnected():
        run = await run_in_threadpool(store.get_run, run_id)
        if run is None:
            yield frame("end", {"state": None, "error": "the run is gone"})
            return
        batch = await run_in_threadpool(store.events, run_id, last)
        for e in batch:
            data = {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "step": e.step_id,
                "event": e.event,
                "payload": e.payload,
            }
            yield frame("journal", data, e.seq)
            last = e.seq
        if batch or run.state != shown:
            shown = run.state
            yield frame("status", await run_in_threadpool(_status, store, run_id))
        if run_state(run).ended:
            yield frame("end", {"state": run.state, "last": last})
            return
        quiet = 0.0 if batch else quiet + poll_s
        if quiet >= HEARTBEAT_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll_s)
