"""The pure engine machine: ordering, rollback, error budget, promotion holds, resume."""

from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.domain.plan import Batch, Plan, StepAction, Wave
from patchwarden.domain.steps import DrainParams, EnableParams, WaitDrainedParams
from patchwarden.engine.machine import Record, UnitState, evaluate
from patchwarden.planning.steps import host_unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DRAIN = DrainParams(lb="lb", pool="web")


def _unit(wave: str, host: str):
    return host_unit(
        wave,
        host,
        (("openssl", "2"),),
        False,
        before=[DRAIN, WaitDrainedParams(lb="lb", pool="web")],
        after=[EnableParams(lb="lb", pool="web")],
    )


def _plan(max_errors: int = 0, concurrency: int = 10) -> Plan:
    waves = []
    for env in ("qa", "prod"):
        wid = f"{env}.web"
        batches = (
            Batch(id=f"{wid}#1", units=(_unit(wid, f"{env}-1"), _unit(wid, f"{env}-2"))),
            Batch(id=f"{wid}#2", units=(_unit(wid, f"{env}-3"),)),
        )
        waves.append(Wave(id=wid, env=env, group="web", strategy="rolling", batches=batches))
    return Plan(
        campaign="t",
        created_at=NOW,
        environments=("qa", "prod"),
        waves=tuple(waves),
        max_errors=max_errors,
        max_concurrency=concurrency,
    )


def _succeed(records: list[Record], step_id: str) -> None:
    records += [Record(step_id, "started"), Record(step_id, "succeeded")]


def test_first_batch_starts_side_by_side_and_gates_the_next() -> None:
    plan = _plan()
    p = evaluate(plan, [])
    assert [w.step.id for w in p.runnable] == ["qa.web/qa-1/00-drain", "qa.web/qa-2/00-drain"]


def test_concurrency_limit() -> None:
    p = evaluate(_plan(concurrency=1), [])
    assert len(p.runnable) == 1


def test_running_step_is_not_offered_again_but_a_crashed_one_is() -> None:
    plan = _plan()
    records = [Record("qa.web/qa-1/00-drain", "started")]
    running = evaluate(plan, records, frozenset({"qa.web/qa-1/00-drain"}))
    assert "qa.web/qa-1/00-drain" not in {w.step.id for w in running.runnable}
    resumed = evaluate(plan, records, frozenset())
    assert "qa.web/qa-1/00-drain" in {w.step.id for w in resumed.runnable}


def test_failed_health_rolls_back_restoring_observed_versions() -> None:
    plan = _plan(max_errors=5)
    unit = plan.waves[0].batches[0].units[0]
    records: list[Record] = []
    for step in unit.steps[:2]:
        _succeed(records, step.id)
    patch = unit.steps[2]
    records += [
        Record(patch.id, "started"),
        Record(patch.id, "observed", {"previous": {"openssl": "1"}}),
        Record(patch.id, "succeeded", {"previous": {"openssl": "1"}}),
    ]
    health = unit.steps[3]
    records += [Record(health.id, "started"), Record(health.id, "failed", {"error": "502"})]
    p = evaluate(plan, records)
    assert p.units[unit.id] is UnitState.ROLLING_BACK
    work = next(w for w in p.runnable if w.unit_id == unit.id)
    assert work.step.action is StepAction.RESTORE
    assert work.inputs["packages"] == {"openssl": "1"}
    for step in unit.rollback:
        _succeed(records, step.id)
    p = evaluate(plan, records)
    assert p.units[unit.id] is UnitState.ROLLED_BACK
    assert p.errors == 1


def test_failure_before_patch_only_undoes_what_started() -> None:
    plan = _plan(max_errors=5)
    unit = plan.waves[0].batches[0].units[0]
    records = [Record(unit.steps[0].id, "started"), Record(unit.steps[0].id, "failed")]
    p = evaluate(plan, records)
    work = next(w for w in p.runnable if w.unit_id == unit.id)
    assert work.step.action is StepAction.ENABLE  # drained: re-enable; nothing to restore


def test_error_budget_stops_new_units_and_holds_later_environments() -> None:
    plan = _plan(max_errors=0)
    unit = plan.waves[0].batches[0].units[0]
    records = [Record(unit.steps[0].id, "started"), Record(unit.steps[0].id, "failed")]
    for step in unit.rollback:
        if step.only_if is StepAction.DRAIN:
            _succeed(records, step.id)
    other = plan.waves[0].batches[0].units[1]
    for step in other.steps:
        _succeed(records, step.id)
    p = evaluate(plan, records)
    assert p.stopped and p.done
    assert p.units["qa.web/qa-3"] is UnitState.SKIPPED
    assert p.units["prod.web/prod-1"] is UnitState.HELD
    assert p.held_envs == ("prod",)


def test_all_succeeded_is_done() -> None:
    plan = _plan()
    records: list[Record] = []
    for unit in plan.units():
        for step in unit.steps:
            _succeed(records, step.id)
    p = evaluate(plan, records)
    assert p.done and not p.runnable and p.count(UnitState.SUCCEEDED) == 6


def _all_succeeded(plan: Plan) -> list[Record]:
    records: list[Record] = []
    for unit in plan.units():
        for step in unit.steps:
            _succeed(records, step.id)
    return records


def test_pause_starts_nothing_new_and_is_not_done() -> None:
    p = evaluate(_plan(), [], control="pause")
    assert not p.runnable and not p.done


def test_abort_skips_everything_not_started() -> None:
    plan = _plan()
    records: list[Record] = [Record("qa.web/qa-1/00-drain", "started")]
    p = evaluate(plan, records, frozenset({"qa.web/qa-1/00-drain"}), control="abort")
    assert p.units["qa.web/qa-1"] is UnitState.RUNNING  # finishes what it started
    assert p.units["qa.web/qa-2"] is UnitState.SKIPPED
    assert not p.runnable


def test_rollback_undoes_succeeded_units_last_first_one_at_a_time() -> None:
    plan = _plan()
    records = _all_succeeded(plan)
    p = evaluate(plan, records, control="rollback")
    assert len(p.runnable) == 1
    first = p.runnable[0]
    assert first.unit_id == "prod.web/prod-3" and first.step.action is StepAction.RESTORE
    assert first.inputs["packages"] == {}  # nothing observed in this synthetic journal
    undone: list[str] = []
    for _ in range(100):
        p = evaluate(plan, records, control="rollback")
        if p.done:
            break
        work = p.runnable[0]
        if not undone or undone[-1] != work.unit_id:
            undone.append(work.unit_id)
        _succeed(records, work.step.id)
    assert p.done and p.count(UnitState.ROLLED_BACK) == 6
    assert undone == [u.id for u in reversed(plan.units())]


def test_a_held_step_waits_for_a_person_then_runs_again_when_released() -> None:
    plan = _plan()
    unit = plan.waves[0].batches[0].units[0]
    first = unit.steps[0].id
    records = [Record(first, "started"), Record(first, "held", {"reason": "marginal"})]
    p = evaluate(plan, records)
    assert p.units[unit.id] is UnitState.RUNNING and p.waiting == (first,)
    assert first not in {w.step.id for w in p.runnable} and not p.done
    records.append(Record(first, "released"))
    p = evaluate(plan, records)
    assert first in {w.step.id for w in p.runnable} and p.waiting == ()
