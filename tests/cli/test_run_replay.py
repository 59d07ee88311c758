"""One reading of a run's journal: status, reports and promotion agree on a rolled-back run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import UnitState
from patchwarden.service.apply import plan_from_files
from patchwarden.service.assessments import load_run, run_outcome
from patchwarden.service.promotion import stored_outcomes
from patchwarden.service.runs import run_status
from patchwarden.store import Store, open_store

CAMPAIGN = Path(__file__).parents[1] / "golden" / "plans" / "demo-windows.yaml"
T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _rolled_back_run(store: Store, plan: Plan) -> str:
    """Journal a run whose dev units all succeeded and were then undone, last first."""
    store.save_plan(plan.digest(), plan.campaign, plan.model_dump(mode="json"))
    run = store.create_run(plan.digest(), state="running", started_at=T)
    units = [u for w in plan.waves if w.env == "dev" for b in w.batches for u in b.units]
    at = T
    for unit in units:
        for step in unit.steps:
            at += timedelta(seconds=5)
            store.append_event(run.id, step.id, "started", {}, at)
            store.append_event(run.id, step.id, "succeeded", {}, at)
    for unit in reversed(units):
        for step in unit.rollback:
            at += timedelta(seconds=5)
            store.append_event(run.id, step.id, "started", {}, at)
            store.append_event(run.id, step.id, "succeeded", {}, at)
    store.set_run_state(run.id, "rolled_back", finished_at=at)
    return run.id


def test_report_status_and_promotion_read_a_rolled_back_run_alike(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        plan = plan_from_files(store, CAMPAIGN, [], [], T)[0].plan
        run_id = _rolled_back_run(store, plan)
        status = run_status(store, run_id)
        trace = load_run(store)
        outcomes = stored_outcomes(store)
    assert trace is not None
    dev = [u.id for w in plan.waves if w.env == "dev" for b in w.batches for u in b.units]
    assert dev and all(status.progress.units[u] is UnitState.ROLLED_BACK for u in dev)
    assert dict(trace.progress.units) == dict(status.progress.units)
    # What the risk model and the promotion gates learn from it: patching failed in dev.
    assert any(envs == {"dev"} for envs in run_outcome(trace).failures.values())
    dev_outcomes = [o for o in outcomes if o.env == "dev"]
    assert dev_outcomes and all(o.result == "failed" for o in dev_outcomes)
