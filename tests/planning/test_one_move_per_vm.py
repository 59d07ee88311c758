"""One move per VM: on estates with one empty (or already patched) hypervisor, evacuation
moves every VM exactly once, keeps capacity and anti-affinity, and empties each host first.

The estates are generated so that a one-move plan exists: hypervisors of one size, every
host's VMs fit on an empty host of that size, no two VMs of an anti-affinity group on one
host, and one host empty. Emptying hosts one by one onto the host emptied just before is
then such a plan, so the planner must find one too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan
from patchwarden.domain.steps import MigrateParams
from patchwarden.planning.plan import plan_campaign
from patchwarden.planning.verify import verify_plan
from patchwarden.testing.decisions import patch_everything

NOW = datetime(2026, 11, 24, tzinfo=UTC)
OS = {"family": "debian", "release": "12"}
OLD = {"openssl": "3.0.11-1~deb12u2", "linux-image-amd64": "6.1.76-1"}
NEW = {"openssl": "3.0.15-1~deb12u1", "linux-image-amd64": "6.1.115-1"}


@st.composite
def one_empty_host(draw: st.DrawFn) -> dict[str, Any]:
    """Hypervisors of one size, one of them empty; every host's load fits an empty host."""
    hv_count = draw(st.integers(2, 12))
    cap = draw(st.sampled_from([(8, 32), (16, 64), (64, 256)]))
    empty = draw(st.integers(0, hv_count - 1))
    # The empty host is either patched in this campaign or already up to date.
    empty_is_patched_already = draw(st.booleans())
    assets: list[dict[str, Any]] = []
    for h in range(hv_count):
        up_to_date = h == empty and empty_is_patched_already
        assets.append(
            {
                "id": f"hv-{h:02d}",
                "kind": "hypervisor",
                "env": "prod",
                "service_model": "bare_metal",
                "capacity": {"vcpus": cap[0], "memory_gb": cap[1]},
                "os": OS,
                "packages": {} if up_to_date else OLD,
            }
        )
    groups = [f"grp-{g}" for g in range(draw(st.integers(0, 4)))]
    vm = 0
    for h in range(hv_count):
        if h == empty:
            continue
        fill = draw(st.floats(0.0, 1.0))
        cpu, mem, here = 0, 0, set()
        for _ in range(draw(st.integers(0, 16))):
            size = draw(st.sampled_from([(1, 1), (1, 2), (2, 4), (4, 8), (2, 16)]))
            if cpu + size[0] > cap[0] * fill or mem + size[1] > cap[1] * fill:
                break
            group = draw(st.sampled_from(["", *groups]))
            if group in here:
                group = ""
            here.add(group)
            cpu, mem = cpu + size[0], mem + size[1]
            assets.append(
                {
                    "id": f"vm-{vm:03d}",
                    "kind": "vm",
                    "env": "prod",
                    "hypervisor": f"hv-{h:02d}",
                    "vcpus": size[0],
                    "memory_gb": size[1],
                    "anti_affinity": group,
                    "os": OS,
                    "packages": OLD,
                    "service_model": "bare_metal",
                }
            )
            vm += 1
    return {"assets": assets, "max_parallel": draw(st.integers(1, 4))}


def _plan(spec: dict[str, Any]) -> tuple[Plan, Inventory]:
    inv = Inventory.model_validate({"assets": spec["assets"]})
    decisions, advisories, fixes = patch_everything(inv, NEW, NOW)
    campaign = Campaign.model_validate(
        {
            "name": "evacuate",
            "groups": {
                "hv": {
                    "select": {"kind": "hypervisor"},
                    "strategy": "evacuate",
                    "max_parallel": spec["max_parallel"],
                }
            },
        }
    )
    return plan_campaign(inv, campaign, decisions, advisories, fixes, NOW), inv


def _migrations(plan: Plan) -> list[MigrateParams]:
    return [s.params for u in plan.units() for s in u.steps if isinstance(s.params, MigrateParams)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_empty_host())
def test_every_vm_moves_exactly_once(spec: dict[str, Any]) -> None:
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []  # capacity, anti-affinity, emptied before patched
    hosted = sorted(a["id"] for a in spec["assets"] if a["kind"] == "vm")
    assert sorted(m.vm for m in _migrations(plan)) == hosted
    wave = next(w for w in plan.waves if w.strategy == "evacuate")
    assert all(len(b.units) <= spec["max_parallel"] for b in wave.batches)
    # Every hypervisor that needed the patch got it, and only once.
    patched = [u.target for u in plan.units()]
    needing = [
        a["id"] for a in spec["assets"] if a["kind"] == "hypervisor" and a["packages"] == OLD
    ]
    assert sorted(patched) == sorted(needing)


def test_the_empty_host_goes_first_and_the_cascade_follows() -> None:
    """hv-a and hv-c each hold a host's worth; hv-b is empty. Sorted by name, hv-a would go
    first and its VMs would have to land on an unpatched host and move again."""
    spec = one_host_each({"hv-a": ["a-1", "a-2"], "hv-b": [], "hv-c": ["c-1", "c-2"]})
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []
    assert [u.target for u in plan.units()] == ["hv-b", "hv-a", "hv-c"]
    moves = [(m.vm, m.source, m.destination) for m in _migrations(plan)]
    assert moves == [
        ("a-1", "hv-a", "hv-b"),
        ("a-2", "hv-a", "hv-b"),
        ("c-1", "hv-c", "hv-a"),
        ("c-2", "hv-c", "hv-a"),
    ]


def test_without_an_empty_host_only_the_first_hosts_vms_move_twice() -> None:
    """No host is empty and nothing is patched yet: the lightest host goes first, onto an
    unpatched one, then the cascade starts from it."""
    spec = one_host_each(
        {"hv-a": ["a-1", "a-2"], "hv-b": ["b-1"], "hv-c": ["c-1", "c-2"]}, per_host=3
    )
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []
    assert [u.target for u in plan.units()] == ["hv-b", "hv-c", "hv-a"]
    moves = [(m.vm, m.source, m.destination) for m in _migrations(plan)]
    assert moves == [
        ("b-1", "hv-b", "hv-a"),  # hv-a and hv-c are equally roomy: the first by name
        ("c-1", "hv-c", "hv-b"),
        ("c-2", "hv-c", "hv-b"),
        ("a-1", "hv-a", "hv-c"),
        ("a-2", "hv-a", "hv-c"),
        ("b-1", "hv-a", "hv-b"),  # the only VM that moves twice
    ]


def one_host_each(layout: dict[str, list[str]], per_host: int = 2) -> dict[str, Any]:
    """VMs of 2 vCPUs / 4 GB on hypervisors that hold ``per_host`` of them."""
    assets: list[dict[str, Any]] = []
    for hv, vms in layout.items():
        assets.append(
            {
                "id": hv,
                "kind": "hypervisor",
                "env": "prod",
                "service_model": "bare_metal",
                "capacity": {"vcpus": 2 * per_host, "memory_gb": 4 * per_host},
                "os": OS,
                "packages": OLD,
            }
        )
        assets.extend(
            {
                "id": vm,
                "kind": "vm",
                "env": "prod",
                "hypervisor": hv,
                "vcpus": 2,
                "memory_gb": 4,
                "os": OS,
                "packages": OLD,
                "service_model": "bare_metal",
            }
            for vm in vms
        )
    return {"assets": assets, "max_parallel": 1}


def test_the_checker_catches_a_move_beside_an_anti_affinity_peer() -> None:
    spec = one_host_each({"hv-a": ["a-1"], "hv-b": [], "hv-c": ["c-1"]})
    for asset in spec["assets"]:
        if asset["id"] in ("a-1", "c-1"):
            asset["anti_affinity"] = "db"
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []
    # Send c-1 where a-1 went instead: the two members of "db" would share hv-b.
    wave = plan.waves[0]
    batches = []
    for batch in wave.batches:
        units = []
        for unit in batch.units:
            steps = tuple(
                s.model_copy(update={"params": s.params.model_copy(update={"destination": "hv-b"})})
                if isinstance(s.params, MigrateParams) and s.params.vm == "c-1"
                else s
                for s in unit.steps
            )
            units.append(unit.model_copy(update={"steps": steps}))
        batches.append(batch.model_copy(update={"units": tuple(units)}))
    broken = plan.model_copy(
        update={"waves": (wave.model_copy(update={"batches": tuple(batches)}),)}
    )
    assert [v.rule for v in verify_plan(broken, inv)] == ["anti_affinity"]


def test_a_tight_estate_the_cascade_cannot_finish_is_still_planned() -> None:
    """Two VMs of one anti-affinity group share hv-a; every host holds two VMs. Emptying
    the lightest host first leaves hv-a needing two patched hosts with room, and only one
    has it at the end: the cascade corners itself, so hosts go in name order instead."""
    spec = one_host_each({"hv-a": ["a-1", "a-2"], "hv-b": ["b-1"], "hv-c": ["c-1"]})
    for asset in spec["assets"]:
        if asset["id"] in ("a-1", "a-2"):
            asset["anti_affinity"] = "web"
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []
    assert [u.target for u in plan.units()] == ["hv-a", "hv-b", "hv-c"]
    assert sorted({m.vm for m in _migrations(plan)}) == ["a-1", "a-2", "b-1", "c-1"]
