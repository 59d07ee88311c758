"""The planner: strategies keep their guarantees; plans are values with stable hashes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.inventory import parse_inventory
from patchwarden.planning.plan import plan_campaign
from patchwarden.planning.strategies.evacuate import EvacuationImpossible
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _demo_plan() -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    return plan_campaign(
        inv, demo_campaign(), a.decisions, {x.id: x for x in advisories}, a.fixes, NOW
    )


def test_plan_is_deterministic_and_round_trips() -> None:
    first, second = _demo_plan(), _demo_plan()
    assert first.digest() == second.digest()
    again = Plan.model_validate_json(first.model_dump_json())
    assert again == first and again.digest() == first.digest()


def test_waves_follow_promotion_order() -> None:
    plan = _demo_plan()
    order = [plan.environments.index(w.env) for w in plan.waves]
    assert order == sorted(order)
    assert plan.environments == ("dev", "qa", "staging", "prod")


def test_rolling_never_exceeds_max_unavailable_and_drains_first() -> None:
    plan = _demo_plan()
    web = next(w for w in plan.waves if w.id == "staging.web")
    # staging has 2 web hosts: canary 25% -> 1 canary, analysis, then 1 more.
    assert [len(b.units) for b in web.batches] == [1, 1, 1]
    prod = next(w for w in plan.waves if w.id == "prod.web")
    # 8 web hosts: 2 canaries, the analysis, then 6 more at max_unavailable 25% -> 2 at a time.
    assert [len(b.units) for b in prod.batches] == [2, 1, 2, 2, 2]
    assert [b.requires_success for b in prod.batches] == [False, True, True, True, True]
    for unit in (u for b in prod.batches for u in b.units if u.target.startswith("web-")):
        actions = [s.action for s in unit.steps]
        assert actions[:2] == [StepAction.DRAIN, StepAction.WAIT_DRAINED]
        assert actions[-1] is StepAction.ENABLE
        assert actions.index(StepAction.HEALTH) < actions.index(StepAction.ENABLE)
        # Rollback re-enables only after restoring and a passing health check.
        rb = [s.action for s in unit.rollback]
        assert (
            rb.index(StepAction.RESTORE) < rb.index(StepAction.HEALTH) < rb.index(StepAction.ENABLE)
        )


def test_kernel_patch_installed_last_and_one_reboot_per_host() -> None:
    plan = _demo_plan()
    for unit in plan.units():
        for patch in (s for s in unit.steps if s.action is StepAction.PATCH):
            names = [p[0] for p in patch.params.packages]
            if "linux-image-amd64" in names:
                assert names[-1] in ("linux-image-amd64", "libc6", "qemu-system-x86")
                assert [s.action for s in unit.steps].count(StepAction.REBOOT) == 1


def test_evacuation_moves_every_vm_off_before_the_host_is_touched() -> None:
    plan = _demo_plan()
    inv = demo_inventory().inventory
    wave = next(w for w in plan.waves if w.id == "prod.hypervisors")
    moved: dict[str, int] = {}
    for batch in wave.batches:
        assert len(batch.units) == 1  # max_parallel: 1
        unit = batch.units[0]
        actions = [s.action for s in unit.steps]
        guests = {a.id for a in inv.assets if getattr(a, "hypervisor", None) == unit.target}
        migrations = [s for s in unit.steps if s.action is StepAction.MIGRATE]
        assert actions[0] is StepAction.MAINTENANCE_ON
        assert actions.index(StepAction.PATCH) > max(unit.steps.index(m) for m in migrations)
        for m in migrations:
            assert m.params.destination != unit.target
            moved[m.params.vm] = moved.get(m.params.vm, 0) + 1
        # VMs placed here in earlier batches must leave too; original guests always do.
        assert guests <= {m.params.vm for m in migrations} | set(moved)
    # With room on already-patched hosts most VMs move once.
    assert sum(1 for n in moved.values() if n == 1) >= len(moved) // 2


def test_evacuation_refuses_when_no_capacity() -> None:
    text = (
        "assets:\n"
        "  - {id: hv-1, kind: hypervisor, env: prod, service_model: bare_metal, capacity: {vcpus: 4, memory_gb: 8}, packages: {qemu-system-x86: '1:7.2+dfsg-7+deb12u5'}, os: {family: debian, release: '12'}}\n"
        "  - {id: hv-2, kind: hypervisor, env: prod, service_model: bare_metal, capacity: {vcpus: 4, memory_gb: 8}, packages: {qemu-system-x86: '1:7.2+dfsg-7+deb12u5'}, os: {family: debian, release: '12'}}\n"
        "  - {id: big-1, kind: vm, env: prod, hypervisor: hv-1, vcpus: 4, memory_gb: 8}\n"
        "  - {id: big-2, kind: vm, env: prod, hypervisor: hv-2, vcpus: 4, memory_gb: 8}\n"
    )
    inv = parse_inventory([("x.yaml", text)]).inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    campaign = Campaign.model_validate(
        {"name": "t", "groups": {"hv": {"select": {"kind": "hypervisor"}, "strategy": "evacuate"}}}
    )
    with pytest.raises(EvacuationImpossible, match="cannot evacuate big-1"):
        plan_campaign(inv, campaign, a.decisions, {x.id: x for x in advisories}, a.fixes, NOW)


def test_provider_owned_assets_get_no_steps() -> None:
    plan = _demo_plan()
    targets = {u.target for u in plan.units()}
    provider = {n.asset_id for n in plan.notes if n.kind == "provider"}
    assert "cloud-host-pool" in provider
    assert not provider & targets
