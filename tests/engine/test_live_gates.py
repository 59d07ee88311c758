"""Windows, soak and QA gates held while a run is live, as durable waits; no sleeps.

The machine gets its instant as a value and the runner runs on the simulated clock (it
jumps as far as the runner waits), so a two-day soak takes milliseconds and every instant
asserted here is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from patchwarden.assess.assessment import assess
from patchwarden.domain.plan import Batch, Plan, PromotionGates, Slot, Wave
from patchwarden.domain.steps import DrainParams, EnableParams, WaitDrainedParams
from patchwarden.domain.window import WindowSpec
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.lifecycle import Outcome, outcome_of
from patchwarden.engine.machine import Record, UnitState, evaluate
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.engine.timing import Timing
from patchwarden.planning.plan import plan_campaign
from patchwarden.planning.steps import host_unit
from patchwarden.planning.windows import PlanCalendar, fit_windows
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory
from patchwarden.testing import sim_drivers

THU = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a Thursday
SAT_OPEN = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
PROD_SAT = WindowSpec(
    name="prod-sat", cron="0 2 * * 6", duration="4h", cutoff="1h", timezone="UTC", env=("prod",)
)
CAL = PlanCalendar([PROD_SAT])


def _unit(wave: str, host: str):
    return host_unit(
        wave,
        host,
        (("openssl", "2"),),
        False,
        before=[DrainParams(lb="lb", pool="web"), WaitDrainedParams(lb="lb", pool="web")],
        after=[EnableParams(lb="lb", pool="web")],
    )


def _plan(promotion: PromotionGates | None = None) -> Plan:
    qa = Wave(
        id="qa.web",
        env="qa",
        group="web",
        strategy="rolling",
        batches=(Batch(id="qa.web#1", units=(_unit("qa.web", "qa-1"),)),),
    )
    slot = Slot(start=SAT_OPEN, end=SAT_OPEN + timedelta(hours=1), window="prod-sat")
    prod = Wave(
        id="prod.web",
        env="prod",
        group="web",
        strategy="rolling",
        batches=(
            Batch(
                id="prod.web#1",
                units=(_unit("prod.web", "prod-1"), _unit("prod.web", "prod-2")),
                slot=slot,
            ),
        ),
    )
    return Plan(
        campaign="t",
        created_at=THU,
        environments=("qa", "prod"),
        waves=(qa, prod),
        max_concurrency=1,
        windows=(PROD_SAT,),
        promotion=promotion,
    )


def _done(plan: Plan, env: str) -> list[Record]:
    return [
        Record(s.id, event)
        for w in plan.waves
        if w.env == env
        for u in (u for b in w.batches for u in b.units)
        for s in u.steps
        for event in ("started", "succeeded")
    ]


def _starts(progress) -> list[str]:
    return [w.step.id for w in progress.runnable]


# -- the machine, with the instant as a value -------------------------------------------


def test_a_batch_waits_for_its_window_and_starts_inside_it() -> None:
    plan = _plan()
    records = _done(plan, "qa")
    before = evaluate(plan, records, timing=Timing(THU, CAL))
    assert _starts(before) == []
    assert before.wait is not None and not before.wait.recorded
    assert before.wait.until == SAT_OPEN
    assert (
        before.wait.reason == "waiting for window prod-sat 2026-12-05T02:00Z (batch 1 of prod.web)"
    )
    assert not before.done
    inside = evaluate(plan, records, timing=Timing(SAT_OPEN + timedelta(minutes=5), CAL))
    assert _starts(inside) == ["prod.web/prod-1/00-drain"]
    assert inside.wait is None


def test_without_timing_nothing_waits() -> None:
    """Callers that give no instant (older tests, what-if replays) see the plan's order only."""
    plan = _plan()
    assert _starts(evaluate(plan, _done(plan, "qa"))) == ["prod.web/prod-1/00-drain"]


def test_the_cutoff_carries_the_rest_of_a_batch_to_the_next_opening() -> None:
    plan = _plan()
    unit = plan.waves[1].batches[0].units[0]
    records = _done(plan, "qa") + [Record(unit.steps[0].id, "started")]
    records.append(Record(unit.steps[0].id, "succeeded"))
    past_cutoff = SAT_OPEN + timedelta(hours=3, minutes=30)  # window open till 06:00, cutoff 05:00
    p = evaluate(plan, records, timing=Timing(past_cutoff, CAL))
    # The unit under way goes on (the cutoff is its room to finish); prod-2 waits a week.
    assert _starts(p) == [unit.steps[1].id]
    p = evaluate(plan, [*records, *_unit_done(unit)], timing=Timing(past_cutoff, CAL))
    assert _starts(p) == []
    assert p.wait is not None and p.wait.until == SAT_OPEN + timedelta(days=7)
    assert p.units[plan.waves[1].batches[0].units[1].id] is UnitState.PENDING


def _unit_done(unit) -> list[Record]:
    return [Record(s.id, e) for s in unit.steps for e in ("started", "succeeded")]


def test_only_an_approved_emergency_change_starts_outside_a_window() -> None:
    plan = _plan()
    records = _done(plan, "qa")
    assert _starts(evaluate(plan, records, timing=Timing(THU, CAL))) == []
    emergency = evaluate(plan, records, timing=Timing(THU, CAL, emergency=True))
    assert _starts(emergency) == ["prod.web/prod-1/00-drain"]


def test_a_journaled_wait_stands_until_its_instant_even_if_asked_again() -> None:
    plan = _plan()
    records = _done(plan, "qa")
    first = evaluate(plan, records, timing=Timing(THU, CAL)).wait
    assert first is not None
    records.append(Record(first.id, "waiting", first.payload()))
    later = evaluate(plan, records, timing=Timing(THU + timedelta(hours=20), CAL)).wait
    assert later is not None and later.recorded and later.until == SAT_OPEN


def test_soak_is_measured_from_the_first_look_and_survives_a_restart() -> None:
    plan = _plan(PromotionGates(soak=(("qa", "2d"),), require_rescan=False))
    records = _done(plan, "qa")
    p = evaluate(plan, records, timing=Timing(THU, CAL))
    assert p.wait is not None and p.wait.id == "soak/qa" and not p.wait.recorded
    assert p.wait.reason == "soaking qa until 2026-12-05T10:00Z (2d)"
    records.append(Record(p.wait.id, "waiting", p.wait.payload()))
    # A restart a day later waits for the same instant, not for two days from the restart.
    resumed = evaluate(plan, records, timing=Timing(THU + timedelta(days=1), CAL))
    assert resumed.wait is not None and resumed.wait.recorded
    assert resumed.wait.until == THU + timedelta(days=2)
    # Soak over: the QA gate of prod is asked for; no prod unit starts before it held.
    soaked = evaluate(plan, records, timing=Timing(THU + timedelta(days=2), CAL))
    assert [c.id for c in soaked.checks] == ["gate/prod"]
    assert soaked.checks[0].units == ("qa.web/qa-1",)
    assert _starts(soaked) == []
    held = evaluate(
        plan,
        [*records, Record("gate/prod", "started"), Record("gate/prod", "succeeded")],
        timing=Timing(THU + timedelta(days=2), CAL),
    )
    # Gate held; the soak ended Saturday 10:00, after the window's cutoff: next Saturday.
    assert held.checks == () and held.wait is not None
    assert held.wait.until == SAT_OPEN + timedelta(days=7)


def test_a_failed_gate_holds_the_environment_and_the_run_has_failed() -> None:
    plan = _plan(PromotionGates())
    records = [*_done(plan, "qa"), Record("gate/prod", "started"), Record("gate/prod", "failed")]
    p = evaluate(plan, records, timing=Timing(SAT_OPEN, CAL))
    assert p.held_envs == ("prod",)
    assert all(p.units[u.id] is UnitState.HELD for u in plan.waves[1].batches[0].units)
    assert p.done and outcome_of(p) is Outcome.FAILURES


def test_a_gate_cut_off_by_a_crash_is_checked_again() -> None:
    plan = _plan(PromotionGates())
    records = [*_done(plan, "qa"), Record("gate/prod", "started")]
    running = evaluate(plan, records, frozenset({"gate/prod"}), timing=Timing(SAT_OPEN, CAL))
    assert running.checks == ()
    crashed = evaluate(plan, records, timing=Timing(SAT_OPEN, CAL))
    assert [c.id for c in crashed.checks] == ["gate/prod"]


def test_a_replay_reports_only_journaled_waits() -> None:
    plan = _plan(PromotionGates(soak=(("qa", "1d"),)))
    records = _done(plan, "qa")
    assert evaluate(plan, records, timing=Timing(THU, live=False)).wait is None
    records.append(
        Record("soak/qa", "waiting", {"until": "2026-12-04T10:00:00+00:00", "reason": "r"})
    )
    shown = evaluate(plan, records, timing=Timing(THU, live=False))
    assert shown.wait is not None and shown.wait.reason == "r" and shown.checks == ()


# -- the runner on the simulated clock ----------------------------------------------------

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # a Tuesday
THU_WINDOW = WindowSpec(
    name="prod-thu", cron="0 2 * * 4", duration="6h", cutoff="1h", timezone="UTC", env=("prod",)
)


def _demo_plan(soak: str = "1d", require_rescan: bool = True) -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    plan = plan_campaign(
        inv, demo_campaign(), a.decisions, {x.id: x for x in advisories}, a.fixes, NOW
    )
    promotion = PromotionGates(soak=(("qa", soak),), require_rescan=require_rescan)
    plan = plan.model_copy(
        update={
            "waves": tuple(w for w in plan.waves if w.id in ("qa.hosts", "prod.hosts")),
            "environments": ("qa", "prod"),
            "promotion": promotion,
        }
    )
    return fit_windows(plan, [THU_WINDOW], NOW, dict(promotion.soak))


def _runner(plan: Plan, journal: MemoryJournal, start: datetime, failures=None, control=None):
    drivers, estate, _ = sim_drivers(failures=failures, start=start, speed=1e9)
    runner = Runner(
        plan,
        journal,
        StepExecutor(drivers),
        drivers.clock,
        control=control,
        calendar=PlanCalendar(plan.windows),
    )
    return runner, estate


def _first(journal: MemoryJournal, match: Callable[[Record], bool]) -> datetime:
    return next(t for r, t in zip(journal.records(), journal.times, strict=True) if match(r))


def test_a_run_soaks_checks_its_gate_and_starts_prod_in_its_window() -> None:
    plan = _demo_plan()
    journal = MemoryJournal()
    runner, estate = _runner(plan, journal, NOW)
    progress = asyncio.run(runner.run())
    assert progress.done and progress.count(UnitState.SUCCEEDED) == len(plan.units())
    qa_done = _first(journal, lambda r: r.step_id == "soak/qa")
    soak = next(r for r in journal.records() if r.step_id == "soak/qa")
    assert soak.payload["until"] == (qa_done + timedelta(days=1)).isoformat()
    gate = _first(journal, lambda r: r.step_id == "gate/prod" and r.event == "succeeded")
    assert gate >= qa_done + timedelta(days=1)
    gate_result = next(
        r for r in journal.records() if r.step_id == "gate/prod" and r.event == "succeeded"
    )
    assert gate_result.payload["rescanned"] == 1 and gate_result.payload["health_checked"] == 1
    # Thursday 02:00 is the first opening after the soak: prod's first step starts then.
    prod_start = _first(
        journal, lambda r: r.step_id.startswith("prod.hosts/") and r.event == "started"
    )
    assert prod_start == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    for unit in plan.units():
        for name, version in next(
            s for s in unit.steps if s.action.value == "patch"
        ).params.packages:
            assert estate.hosts[unit.target].packages[name] == version


def test_a_runner_stopped_while_soaking_resumes_waiting_for_the_same_instant() -> None:
    plan = _demo_plan(soak="2d")
    journal = MemoryJournal()

    def stop_once_waiting() -> str:  # what a kill leaves: the wait journaled, nothing after
        return "pause" if any(r.event == "waiting" for r in journal.records()) else ""

    first, _ = _runner(plan, journal, NOW, control=stop_once_waiting)
    stopped = asyncio.run(first.run())
    assert not stopped.done
    until = datetime.fromisoformat(
        next(r for r in journal.records() if r.event == "waiting").payload["until"]
    )
    # Resumed a day later on a fresh clock: the soak still ends when it was going to.
    second, _ = _runner(plan, journal, until - timedelta(days=1))
    assert asyncio.run(second.run()).done
    gate = _first(journal, lambda r: r.step_id == "gate/prod" and r.event == "started")
    assert gate == until
    assert sum(1 for r in journal.records() if r.step_id == "soak/qa") == 1


def test_a_failed_qa_gate_holds_prod_and_names_why() -> None:
    plan = _demo_plan(soak="0s")
    journal = MemoryJournal()
    qa_unit = plan.waves[0].batches[0].units[0]
    patch = next(s for s in qa_unit.steps if s.action.value == "patch")
    package = patch.params.packages[0][0]
    holder: dict[str, object] = {}

    def break_after_qa() -> str:
        # Someone downgrades the qa host once its unit is through, before the gate looks.
        last = qa_unit.steps[-1].id
        if any(r.step_id == last and r.event == "succeeded" for r in journal.records()):
            estate: Any = holder["estate"]  # the SimEstate, set once the run builds it
            estate.hosts[qa_unit.target].packages[package] = "0-downgraded"
        return ""

    runner, estate = _runner(plan, journal, NOW, control=break_after_qa)
    holder["estate"] = estate
    asyncio.run(runner.run())
    failed = [r for r in journal.records() if r.step_id == "gate/prod" and r.event == "failed"]
    assert failed, "the gate should have failed"
    error = failed[0].payload["error"]
    assert error.startswith("QA gate of prod (after qa): ")
    assert f"re-scan of {qa_unit.target}: {package} is 0-downgraded, not the patched" in error
    assert not any(
        r.step_id.startswith("prod.") and r.event == "started" for r in journal.records()
    )
    progress = evaluate(plan, journal.records())
    assert progress.held_envs == ("prod",) and outcome_of(progress) is Outcome.FAILURES
