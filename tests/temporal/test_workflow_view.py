"""The server's view of a Temporal run when there is nothing to ask, or nobody answers.

The view of a running workflow, with a real Temporal server and workers, is tested in
``tests/server/test_api_temporal_runs.py``.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from patchwarden.service.temporal_status import workflow_view
from patchwarden.store import RunRecord

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _run(summary: dict[str, object] | None) -> RunRecord:
    return RunRecord("r1", "h", "running", AT, None, summary)


def test_a_run_of_the_local_runner_has_no_workflow_to_show() -> None:
    assert workflow_view(_run(None), []) is None
    assert workflow_view(_run({"units": {}}), []) is None


def test_temporal_gone_is_said_not_raised() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    where = {"workflow_id": "patchwarden-run-r1", "address": f"127.0.0.1:{port}"}
    view = workflow_view(_run({"temporal": where}), ["s1"], timeout=5)
    assert view is not None
    assert view.execution == "unreachable"
    assert view.error.startswith(f"cannot ask Temporal at 127.0.0.1:{port}: ")
    assert view.as_json()["handed_out"] == [] and not view.answered
