"""``rollback: snapshot`` over the simulated estate: planned, reverted, deleted, resumed once."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.errors import ValidationFailed
from patchwarden.planning.plan import plan_campaign
from patchwarden.service.campaigns import check_snapshots, load_campaign
from patchwarden.service.snapshot_checks import unsupported_snapshots
from patchwarden.service.sources import demo_advisories, demo_inventory
from patchwarden.testing import FailurePlan, sim_drivers

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
CAMPAIGN = """\
name: vm snapshots
scope_env: [prod]
groups:
  web: {select: {role: web}, strategy: rolling, rollback: snapshot, snapshot_soak_s: 120}
rate: {max_errors: 5}
"""


def _plan() -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    campaign = load_campaign("c.yaml", CAMPAIGN).campaign
    return plan_campaign(inv, campaign, a.decisions, {x.id: x for x in advisories}, a.fixes, NOW)


def test_each_vm_unit_snapshots_first_and_deletes_the_snapshot_after_the_soak() -> None:
    plan = _plan()
    units = plan.units()
    assert units
    for unit in units:
        actions = [s.action for s in unit.steps]
        assert actions[0] is StepAction.SNAPSHOT
        assert actions.index(StepAction.SNAPSHOT) < actions.index(StepAction.PATCH)
        assert actions[-3:] == [StepAction.WAIT, StepAction.HEALTH, StepAction.SNAPSHOT_DELETE]
        back = [s.action for s in unit.rollback]
        assert back[:3] == [
            StepAction.SNAPSHOT_REVERT, StepAction.HEALTH, StepAction.SNAPSHOT_DELETE]  # fmt: skip
        assert StepAction.RESTORE not in back, "the revert replaces the package restore"
        assert StepAction.ENABLE in back, "the drain is still undone"
        assert all(s.only_if is StepAction.SNAPSHOT for s in unit.rollback[:3])


def _run(plan: Plan, failures: FailurePlan | None = None):
    drivers, estate, _ = sim_drivers(failures=failures)
    journal = MemoryJournal()
    progress = asyncio.run(Runner(plan, journal, StepExecutor(drivers), drivers.clock).run())
    return progress, estate, journal


def test_a_broken_patch_reverts_the_snapshot_and_deletes_it() -> None:
    plan = _plan()
    progress, estate, _ = _run(plan, FailurePlan(breaks_health=frozenset({"web-prod-02"})))
    unit = next(u for u in plan.units() if u.target == "web-prod-02")
    assert progress.units[unit.id] is UnitState.ROLLED_BACK
    host = estate.hosts["web-prod-02"]
    assert host.packages == host.original
    assert [line.split()[0] for line in host.log[-2:]] == ["revert", "delete-snapshot"]
    assert estate.vm_snapshots.get("web-prod-02", {}) == {}, "deleted after the revert"
    good = [u for u in plan.units() if u.target != "web-prod-02"]
    assert all(progress.units[u.id] is UnitState.SUCCEEDED for u in good)
    assert not any(estate.vm_snapshots.values()), "every snapshot deleted after its soak"


@pytest.mark.parametrize("seed", range(4))
def test_killed_and_resumed_anywhere_takes_one_snapshot_per_vm_and_leaves_none(seed: int) -> None:
    plan = _plan()
    drivers, estate, _ = sim_drivers(failures=FailurePlan(breaks_health=frozenset({"web-prod-02"})))
    journal = MemoryJournal()
    cut = random.Random(seed).randint(5, 60)

    async def crash_after_records() -> None:
        task = asyncio.create_task(
            Runner(plan, journal, StepExecutor(drivers), drivers.clock).run()
        )
        while len(journal.records()) < cut and not task.done():
            await asyncio.sleep(0)
        task.cancel()  # as under kill -9: no cleanup of its own
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(crash_after_records())
    progress = asyncio.run(Runner(plan, journal, StepExecutor(drivers), drivers.clock).run())
    assert progress.done
    for unit in plan.units():
        taken = [line for line in estate.hosts[unit.target].log if line.startswith("snapshot")]
        assert len(taken) == 1, (unit.target, taken)
    assert not any(estate.vm_snapshots.values())


def test_rollback_snapshot_on_anything_but_vms_on_a_snapshotting_hypervisor_is_refused() -> None:
    text = CAMPAIGN.replace("{role: web}", "{kind: hypervisor}")
    loaded = load_campaign("c.yaml", text)
    with pytest.raises(ValidationFailed) as caught:
        check_snapshots(loaded, demo_inventory().inventory)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == ("c.yaml", 4, "groups.web.rollback")
    assert "is a hypervisor, not a VM" in problem.message


def test_an_unknown_rollback_is_an_input_error_at_its_line() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_campaign("c.yaml", CAMPAIGN.replace("rollback: snapshot", "rollback: snapshots"))
    [problem] = caught.value.problems
    assert (problem.line, problem.field) == (4, "groups.web.rollback")


def test_the_campaign_keeps_its_plan_when_the_group_does_not_ask_for_snapshots() -> None:
    plain = Campaign.model_validate({"name": "x", "groups": {"web": {
        "select": {"role": "web"}, "strategy": "rolling"}}})  # fmt: skip
    assert plain.groups["web"].rollback == "packages"


def test_a_vm_the_hypervisor_cannot_snapshot_is_refused_before_the_run() -> None:
    plan = _plan()
    _, estate, _ = sim_drivers()
    assert unsupported_snapshots(plan, estate, {}) == []
    del estate.vm_host["web-prod-02"]  # the hypervisor no longer runs it
    [problem] = unsupported_snapshots(plan, estate, {"web-prod-02": ("inv.yaml", 12)})
    assert (problem.file, problem.line, problem.field) == ("inv.yaml", 12, "web-prod-02.hypervisor")
    assert "cannot snapshot web-prod-02: web-prod-02 runs on no hypervisor" in problem.message
