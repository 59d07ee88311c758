"""Hooks: woven into the plan as steps, run by the engine, each failure policy honoured."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from patchwarden.assess.assessment import assess
from patchwarden.domain.campaign import Campaign, HookSpec
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.drivers.transport import CommandResult
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.errors import TransientDriverError
from patchwarden.planning.plan import plan_campaign
from patchwarden.service.sources import demo_advisories, demo_inventory
from patchwarden.testing import sim_drivers

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _plan(hooks: list[dict[str, Any]]) -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    campaign = Campaign.model_validate({
        "name": "hooks", "scope_env": ["prod"], "rate": {"max_errors": 0},
        "groups": {"web": {"select": {"role": "web"}, "strategy": "rolling",
                           "max_unavailable": 1, "hooks": hooks}}})  # fmt: skip
    return plan_campaign(inv, campaign, a.decisions, {x.id: x for x in advisories}, a.fixes, NOW)


class Commands:
    """Answers hooks like a shell would, from a table; records what ran where."""

    def __init__(self, fails: dict[tuple[str, ...], int] | None = None) -> None:
        self.fails = fails or {}
        self.ran: list[tuple[str, tuple[str, ...]]] = []

    async def run(self, host: str, argv: Any, *, env: Any = None, timeout_s: Any = None) -> Any:
        self.ran.append((host, tuple(argv)))
        if tuple(argv) == ("sleep", "forever"):
            raise TransientDriverError(f"{host}: sleep timed out after {timeout_s:.0f} s")
        status = self.fails.get(tuple(argv), 0)
        return CommandResult(host, tuple(argv), status, "out\n", "err\n" if status else "")


def _run(plan: Plan, commands: Commands) -> tuple[Any, Any, MemoryJournal]:
    drivers, estate, _ = sim_drivers()
    drivers = replace(drivers, commands=commands, controller=commands)
    journal = MemoryJournal()
    progress = asyncio.run(Runner(plan, journal, StepExecutor(drivers), drivers.clock).run())
    return progress, estate, journal


def test_hooks_become_steps_in_the_order_they_run_with_their_target_filled_in() -> None:
    plan = _plan([
        {"when": "pre_group", "run": ["notify", "{group}", "{env}"], "on": "controller"},
        {"when": "pre_unit", "run": ["systemctl", "stop", "cron"]},
        {"when": "post_unit", "run": ["warm-cache", "--host={target}"], "on": "controller"},
        {"when": "post_batch", "run": ["snapshot", "{target}"], "on": "controller"},
        {"when": "post_group", "run": ["notify", "done"], "on": "controller"},
    ])  # fmt: skip
    (wave,) = plan.waves
    ids = [b.id for b in wave.batches]
    assert ids[0] == "prod.web#pre" and ids[-1] == "prod.web#post"
    assert ids[1].endswith("#post") is False and ids[2] == f"{ids[1]}#post"
    pre_group = wave.batches[0].units[0].steps[0]
    assert (pre_group.action, pre_group.params.argv) == (StepAction.HOOK, ("notify", "web", "prod"))
    unit = wave.batches[1].units[0]
    actions = [s.action for s in unit.steps]
    assert actions[0] is StepAction.HOOK and actions[1] is StepAction.DRAIN
    assert actions[-1] is StepAction.HOOK and actions[-2] is StepAction.ENABLE
    assert unit.steps[-1].params.argv == ("warm-cache", f"--host={unit.target}")
    assert [s.id.rsplit("/", 1)[1][:2] for s in unit.steps] == [
        f"{i:02d}" for i in range(len(unit.steps))]  # fmt: skip
    assert wave.batches[1].requires_success, "work after a pre-hook needs it to have passed"


def test_every_hook_runs_where_it_says_and_its_output_is_journaled() -> None:
    plan = _plan([{"when": "pre_unit", "run": ["systemctl", "stop", "cron"]},
                  {"when": "post_group", "run": ["notify", "done"], "on": "controller"}])  # fmt: skip
    commands = Commands()
    progress, _, journal = _run(plan, commands)
    assert progress.done and progress.errors == 0
    hosts = [u.target for u in plan.units() if u.steps[0].action is StepAction.HOOK and
             u.target.startswith("web")]  # fmt: skip
    assert [h for h, argv in commands.ran if argv[0] == "systemctl"] == hosts
    assert commands.ran[-1] == ("controller", ("notify", "done"))
    done = [r.payload for r in journal.records() if r.step_id.endswith("-hook")
            and r.event == "succeeded"]  # fmt: skip
    assert done[0]["exit_status"] == 0 and done[0]["stdout"] == "out\n"


def test_abort_stops_the_run_where_it_is_and_rolls_nothing_back() -> None:
    plan = _plan([{"when": "post_unit", "run": ["check"], "on_failure": "abort"}])
    progress, estate, journal = _run(plan, Commands({("check",): 3}))
    first = plan.units()[0]
    assert progress.units[first.id] is UnitState.FAILED
    assert progress.stopped
    assert all(progress.units[u.id] is UnitState.SKIPPED for u in plan.units()[1:])
    assert not [r for r in journal.records() if "/rollback/" in r.step_id]
    assert estate.hosts[first.target].packages != estate.hosts[first.target].original
    seen = [r.payload for r in journal.records() if r.step_id.endswith("-hook")
            and r.event == "observed"]  # fmt: skip
    assert seen and seen[0]["exit_status"] == 3 and seen[0]["stderr"] == "err\n"


def test_rollback_undoes_the_unit_and_ignore_goes_on() -> None:
    plan = _plan([{"when": "post_unit", "run": ["check"], "on_failure": "rollback"},
                  {"when": "pre_unit", "run": ["sleep", "forever"], "timeout_s": 1,
                   "on_failure": "ignore"}])  # fmt: skip
    progress, estate, journal = _run(plan, Commands({("check",): 1}))
    first = plan.units()[0]
    assert progress.units[first.id] is UnitState.ROLLED_BACK
    assert estate.hosts[first.target].packages == estate.hosts[first.target].original
    ignored = [r.payload for r in journal.records() if r.step_id.endswith("00-hook")
               and r.event == "succeeded"]  # fmt: skip
    assert ignored and ignored[0]["ignored"] and ignored[0]["exit_status"] is None
    assert "timed out" in ignored[0]["stderr"]


@pytest.mark.parametrize(
    ("hook", "field"),
    [
        ({"when": "sometimes", "run": ["x"]}, "when"),
        ({"when": "pre_unit", "run": []}, "run"),
        ({"when": "pre_unit", "run": "rm -rf /"}, "run"),
        ({"when": "pre_unit", "run": ["x"], "on_failure": "retry"}, "on_failure"),
    ],
)
def test_a_bad_hook_is_refused_naming_its_field(hook: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        HookSpec.model_validate(hook)
    assert refused.value.errors()[0]["loc"][0] == field
