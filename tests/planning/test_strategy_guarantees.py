"""Each strategy of the seed compiles into steps that keep its guarantee (DESIGN.md table)."""

from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.assess.assessment import assess
from patchwarden.domain.plan import Plan, StepAction, Wave
from patchwarden.planning.plan import plan_campaign
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _plan() -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    return plan_campaign(
        inv, demo_campaign(), a.decisions, {x.id: x for x in advisories}, a.fixes, NOW
    )


def _wave(plan: Plan, wave_id: str) -> Wave:
    return next(w for w in plan.waves if w.id == wave_id)


def _actions(wave: Wave) -> list[list[tuple[str, str]]]:
    return [[(s.action.value, s.target) for u in b.units for s in u.steps] for b in wave.batches]


def test_every_strategy_appears_in_the_demo_plan() -> None:
    strategies = {w.strategy for w in _plan().waves}
    assert strategies == {
        "evacuate",
        "canary",
        "rolling",
        "blue_green",
        "cluster_rolling",
        "controller",
        "ha_pair",
        "redundant_path",
        "image_rebuild",
    }


def test_blue_green_patches_standby_switches_then_old_side() -> None:
    wave = _wave(_plan(), "prod.api")
    names = [b.id.rsplit("#", 1)[1] for b in wave.batches]
    assert names == ["standby", "switch", "old-side"]
    standby, switch, old = wave.batches
    assert {u.target for u in standby.units} == {"api-blue-01", "api-blue-02"}
    assert {u.target for u in old.units} == {"api-green-01", "api-green-02"}
    assert switch.requires_success and old.requires_success
    steps = switch.units[0].steps
    assert steps[0].action is StepAction.SWITCH and steps[0].params.side == "blue"
    assert steps[-1].action is StepAction.BAKE  # watched before the old side changes
    assert steps[-1].params.members == ("api-blue-01", "api-blue-02")
    # Flip back first, then the new side back on its previous versions, host by host.
    undo = switch.units[0].rollback
    assert undo[0].action is StepAction.SWITCH
    A = StepAction
    for host in ("api-blue-01", "api-blue-02"):
        chain = [s.action for s in undo if s.target == host]
        assert chain == [A.RESTORE, A.REBOOT, A.HEALTH], (host, chain)
        (restore,) = [s for s in undo if s.target == host and s.action is A.RESTORE]
        assert restore.params.from_unit in {u.id for u in standby.units}
    assert all(s.only_if is StepAction.SWITCH for s in undo)


def test_cluster_rolling_keeps_quorum_and_patches_the_leader_last_after_handover() -> None:
    wave = _wave(_plan(), "prod.db")
    # 3 members, quorum 2: one member out at a time; db-01 is the controller (leader).
    assert [len(b.units) for b in wave.batches] == [1, 1, 1]
    assert [b.units[0].target for b in wave.batches] == ["db-02", "db-03", "db-01"]
    for batch in wave.batches:
        unit = batch.units[0]
        # Every member leaves through the cluster's check first and rejoins before the next.
        first, last = unit.steps[0], unit.steps[-1]
        assert first.action is StepAction.LEAVE and first.target == "pg-main"
        assert first.params.member == unit.target
        assert last.action is StepAction.REJOIN and last.params.member == unit.target
        assert [s.action for s in unit.rollback][-1] is StepAction.REJOIN
    # db-02 would hand leadership (if it led) to the member patched last; the leader hands
    # over to members already patched.
    assert wave.batches[0].units[0].steps[0].params.prefer == ("db-01", "db-03")
    assert wave.batches[-1].units[0].steps[0].params.prefer == ("db-02", "db-03")


def test_controller_based_upload_then_distribute_then_health_of_every_member() -> None:
    wave = _wave(_plan(), "prod.search")
    unit = wave.batches[0].units[0]
    actions = [s.action for s in unit.steps]
    assert actions[:2] == [StepAction.UPLOAD, StepAction.DISTRIBUTE]
    assert {s.target for s in unit.steps[2:]} == {"search-01", "search-02", "search-03"}


def test_ha_pair_standby_first_then_failover_then_the_other() -> None:
    wave = _wave(_plan(), "prod.appliances")
    pair = [b for b in wave.batches if "fw-01+fw-02" in b.id]
    assert [b.id.rsplit("#", 1)[1] for b in pair] == ["standby", "failover"]
    standby, other = pair[0].units[0], pair[1].units[0]
    assert standby.target == "fw-02" and standby.steps[0].params.to == "fw-01"
    assert other.target == "fw-01" and other.steps[0].params.to == "fw-02"
    assert pair[1].requires_success
    assert [s.action for s in other.steps] == [
        StepAction.FAILOVER,
        StepAction.FIRMWARE,
        StepAction.HEALTH,
    ]


def test_redundant_path_one_part_at_a_time_with_redundancy_verified() -> None:
    wave = _wave(_plan(), "prod.storage")
    assert all(len(b.units) == 1 for b in wave.batches)
    assert len(wave.batches) == 7
    for batch in wave.batches:
        actions = [s.action for s in batch.units[0].steps]
        assert actions == [
            StepAction.PATH_OFFLINE,
            StepAction.FIRMWARE,
            StepAction.PATH_ONLINE,
            StepAction.VERIFY_REDUNDANCY,
        ]


def test_image_rebuild_builds_and_tests_before_any_replacement() -> None:
    wave = _wave(_plan(), "prod.images")
    build = wave.batches[0].units[0]
    assert [s.action for s in build.steps] == [StepAction.BUILD_IMAGE, StepAction.TEST_IMAGE]
    replaced = [u.target for b in wave.batches[1:] for u in b.units]
    assert replaced == ["worker-prod-01", "worker-prod-02", "worker-prod-03"]
    assert all(b.requires_success for b in wave.batches[1:])
    assert all(
        StepAction.PATCH not in [s.action for s in u.steps]
        for b in wave.batches[1:]
        for u in b.units
    )


def test_provider_owned_and_saas_get_no_steps() -> None:
    plan = _plan()
    targets = {u.target for u in plan.units()} | {s.target for u in plan.units() for s in u.steps}
    assert not {"mail", "crm", "cloud-host-pool", "logs-archive"} & targets


def test_ha_pair_with_fail_back_ends_on_the_member_that_served_first() -> None:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    campaign = demo_campaign()
    groups = dict(campaign.groups)
    groups["appliances"] = groups["appliances"].model_copy(update={"fail_back": True})
    campaign = campaign.model_copy(update={"groups": groups})
    plan = plan_campaign(inv, campaign, a.decisions, {x.id: x for x in advisories}, a.fixes, NOW)
    pair = [b for b in _wave(plan, "prod.appliances").batches if "fw-01+fw-02" in b.id]
    standby, other = pair[0].units[0], pair[1].units[0]
    # The standby's unit is as without fail_back; the other's gives the address back.
    assert [s.action for s in standby.steps][-1] is StepAction.HEALTH
    assert [(s.action, getattr(s.params, "to", None)) for s in other.steps] == [
        (StepAction.FAILOVER, "fw-02"),
        (StepAction.FIRMWARE, None),
        (StepAction.HEALTH, None),
        (StepAction.FAILOVER, "fw-01"),
    ]
    assert plan.digest() != _plan().digest()
