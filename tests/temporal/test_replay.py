"""Recorded workflow histories replay on the current code: a change that breaks determinism fails.

``tests/data/temporal/small-campaign-history.json`` is the history of a real run of
``small-campaign.yaml`` on the simulated estate. Temporal replays such a history whenever a
worker takes up a workflow it did not start (a crash, a restart, a cache eviction), so the
workflow code must still make exactly the decisions recorded there. Re-record it (on
purpose, when a change of the workflow is meant to be incompatible, with a new workflow
name or a patch marker for running workflows) with ``PATCHWARDEN_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from patchwarden.service.temporal_flow import WORKFLOW, CampaignInput, CampaignWorkflow
from patchwarden.store import open_store
from patchwarden.testing.temporal import WorkerPool

DATA = Path(__file__).parents[1] / "data/temporal"
HISTORY = DATA / "small-campaign-history.json"


def _history(text: str) -> WorkflowHistory:
    return WorkflowHistory.from_json("patchwarden-run-recorded", json.loads(text))


def test_the_recorded_history_replays_on_the_current_workflow() -> None:
    result = asyncio.run(
        Replayer(workflows=[CampaignWorkflow]).replay_workflow(_history(HISTORY.read_text()))
    )
    assert result.replay_failure is None


@workflow.defn(name=WORKFLOW, sandboxed=False)
class _SkipsTheJournal(CampaignWorkflow):
    """Decides differently from the recorded run: settles without reading the journal."""

    @workflow.run
    async def run(self, params: CampaignInput) -> dict[str, Any]:
        return await self._settle(params)


def test_a_workflow_that_decides_otherwise_fails_the_replay() -> None:
    # Guards the test above against passing vacuously.
    with pytest.raises(workflow.NondeterminismError):
        asyncio.run(
            Replayer(workflows=[_SkipsTheJournal]).replay_workflow(_history(HISTORY.read_text()))
        )


@pytest.mark.slow
def test_a_fresh_run_replays_too(temporal_env: dict[str, str], workers: WorkerPool) -> None:
    """Record the small campaign anew; rewrite the stored history when asked to."""
    workers.start()
    campaign = DATA / "small-campaign.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "apply", str(campaign), "--engine", "temporal",
         "--speed", "20000"],
        env=temporal_env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open_store(temporal_env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"

    async def fetch() -> WorkflowHistory:
        client = await Client.connect(temporal_env["PATCHWARDEN_TEMPORAL_ADDRESS"])
        return await client.get_workflow_handle(f"patchwarden-run-{run.id}").fetch_history()

    history = asyncio.run(fetch())
    result = asyncio.run(Replayer(workflows=[CampaignWorkflow]).replay_workflow(history))
    assert result.replay_failure is None
    if os.environ.get("PATCHWARDEN_UPDATE_GOLDEN") == "1":
        fresh = Path(str(HISTORY) + ".new")
        fresh.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        shutil.move(fresh, HISTORY)
