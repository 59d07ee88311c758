"""Safety invariants on generated estates (hypothesis): every plan the planner makes passes
the independent checker, or the planner refuses with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.errors import InputError
from patchwarden.planning.plan import plan_campaign
from patchwarden.planning.verify import verify_plan
from patchwarden.testing.decisions import patch_everything

NOW = datetime(2026, 11, 24, tzinfo=UTC)
OS = {"family": "debian", "release": "12"}
OLD = {"openssl": "3.0.11-1~deb12u2", "linux-image-amd64": "6.1.76-1"}
NEW = {"openssl": "3.0.15-1~deb12u1", "linux-image-amd64": "6.1.115-1"}


@st.composite
def estates(draw: st.DrawFn) -> dict[str, Any]:
    hv_count = draw(st.integers(3, 7))
    cap = draw(st.sampled_from([(16, 64), (32, 128), (64, 256)]))
    hvs = [f"hv-{i}" for i in range(hv_count)]
    assets: list[dict[str, Any]] = [
        {
            "id": h,
            "kind": "hypervisor",
            "env": "prod",
            "service_model": "bare_metal",
            "capacity": {"vcpus": cap[0], "memory_gb": cap[1]},
            "os": OS,
            "packages": OLD,
        }
        for h in hvs
    ]
    used = dict.fromkeys(hvs, (0, 0))

    def vm(vid: str, role: str, **extra: Any) -> None:
        size = draw(st.sampled_from([(1, 2), (2, 4), (4, 8)]))
        # Place where it fits under 60 %: the estate must be evacuable at all.
        group = extra.get("anti_affinity", "")
        for h in draw(st.permutations(hvs)):
            c, m = used[h]
            taken = group and any(
                a.get("anti_affinity") == group and a.get("hypervisor") == h for a in assets
            )
            if not taken and c + size[0] <= cap[0] * 0.6 and m + size[1] <= cap[1] * 0.6:
                used[h] = (c + size[0], m + size[1])
                assets.append(
                    {
                        "id": vid,
                        "kind": "vm",
                        "env": "prod",
                        "hypervisor": h,
                        "roles": [role],
                        "vcpus": size[0],
                        "memory_gb": size[1],
                        "os": OS,
                        "packages": OLD,
                        "service_model": "bare_metal",
                        **extra,
                    }
                )
                return

    web = draw(st.integers(2, 10))
    for i in range(web):
        vm(f"web-{i}", "web")
    members = [a["id"] for a in assets if "web" in a.get("roles", [])]
    if len(members) >= 2:
        assets.append(
            {
                "id": "lb",
                "kind": "load_balancer",
                "env": "prod",
                "pools": [
                    {
                        "name": "web",
                        "members": members,
                        "min_healthy": draw(st.integers(1, len(members) - 1)),
                    }
                ],
            }
        )
    db = (
        draw(st.integers(3, hv_count - 1)) if hv_count >= 4 else 0
    )  # anti-affinity needs a spare host
    for i in range(db):
        vm(f"db-{i}", "db", anti_affinity="db")
    dbs = [a["id"] for a in assets if "db" in a.get("roles", [])]
    if len(dbs) >= 3:
        assets.append(
            {
                "id": "pg",
                "kind": "cluster",
                "env": "prod",
                "members": dbs,
                "controller": dbs[0],
                "quorum": draw(st.integers(1, len(dbs) - 1)),
            }
        )
    for i in range(draw(st.integers(0, 6))):
        vm(f"misc-{i}", "misc")
    return {
        "assets": assets,
        "max_parallel": draw(st.integers(1, 3)),
        "canary": draw(st.sampled_from(["10%", "25%", 1, 2])),
        "max_unavailable": draw(st.sampled_from([1, 2, "50%"])),
    }


def _plan(spec: dict[str, Any]) -> tuple[Plan, Inventory]:
    inv = Inventory.model_validate({"assets": spec["assets"]})
    decisions, advisories, fixes = patch_everything(inv, NEW, NOW, advisory_id="GEN-1")
    campaign = Campaign.model_validate(
        {
            "name": "gen",
            "groups": {
                "hv": {
                    "select": {"kind": "hypervisor"},
                    "strategy": "evacuate",
                    "max_parallel": spec["max_parallel"],
                },
                "web": {
                    "select": {"role": "web"},
                    "strategy": "canary",
                    "canary": spec["canary"],
                    "max_unavailable": spec["max_unavailable"],
                },
                "db": {
                    "select": {"kind": "cluster"},
                    "strategy": "cluster_rolling",
                    "max_parallel": 2,
                },
                "rest": {
                    "select": {"kind": "vm"},
                    "strategy": "rolling",
                    "max_unavailable": spec["max_unavailable"],
                },
            },
        }
    )
    return plan_campaign(inv, campaign, decisions, advisories, fixes, NOW), inv


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_every_plan_keeps_the_safety_rules(spec: dict[str, Any]) -> None:
    try:
        plan, inv = _plan(spec)
    except InputError as refused:  # a refusal must say why, in words
        assert "cannot" in str(refused) or "leaves" in str(refused)
        return
    assert verify_plan(plan, inv) == []
    # Every hypervisor unit empties its host: the checker saw every VM leave.
    assert all(
        any(s.action is StepAction.MAINTENANCE_ON for s in u.steps)
        for w in plan.waves
        if w.strategy == "evacuate"
        for b in w.batches
        for u in b.units
    )


def test_the_checker_catches_a_broken_plan() -> None:
    spec = {
        "assets": [
            {
                "id": "hv-0",
                "kind": "hypervisor",
                "env": "prod",
                "service_model": "bare_metal",
                "capacity": {"vcpus": 8, "memory_gb": 32},
                "os": OS,
                "packages": OLD,
            },
            {
                "id": "hv-1",
                "kind": "hypervisor",
                "env": "prod",
                "service_model": "bare_metal",
                "capacity": {"vcpus": 8, "memory_gb": 32},
                "os": OS,
                "packages": OLD,
            },
            {
                "id": "vm-0",
                "kind": "vm",
                "env": "prod",
                "hypervisor": "hv-0",
                "os": OS,
                "packages": OLD,
                "roles": ["web"],
                "service_model": "bare_metal",
            },
            {
                "id": "vm-1",
                "kind": "vm",
                "env": "prod",
                "hypervisor": "hv-1",
                "os": OS,
                "packages": OLD,
                "roles": ["web"],
                "service_model": "bare_metal",
            },
            {
                "id": "lb",
                "kind": "load_balancer",
                "env": "prod",
                "pools": [{"name": "web", "members": ["vm-0", "vm-1"], "min_healthy": 1}],
            },
        ],
        "max_parallel": 1,
        "canary": 1,
        "max_unavailable": 1,
    }
    plan, inv = _plan(spec)
    assert verify_plan(plan, inv) == []
    # Drop the migrations of the first hypervisor unit and merge the web batches: both rules break.
    hv_wave = next(w for w in plan.waves if w.strategy == "evacuate")
    unit = hv_wave.batches[0].units[0]
    stripped = unit.model_copy(
        update={"steps": tuple(s for s in unit.steps if s.action is not StepAction.MIGRATE)}
    )
    web = next(w for w in plan.waves if w.group == "web")
    merged = web.batches[0].model_copy(
        update={
            "units": tuple(u for b in web.batches for u in b.units if u.target.startswith("vm-"))
        }
    )
    broken = plan.model_copy(
        update={
            "waves": (
                hv_wave.model_copy(
                    update={
                        "batches": (hv_wave.batches[0].model_copy(update={"units": (stripped,)}),)
                    }
                ),
                web.model_copy(update={"batches": (merged,)}),
            )
        }
    )
    rules = {v.rule for v in verify_plan(broken, inv)}
    assert rules == {"evacuation", "min_healthy"}


@pytest.mark.parametrize("quorum", [3])
def test_cluster_with_no_spare_member_is_refused(quorum: int) -> None:
    spec = {
        "assets": [
            *(
                {
                    "id": f"db-{i}",
                    "kind": "vm",
                    "env": "prod",
                    "os": OS,
                    "packages": OLD,
                    "service_model": "bare_metal",
                }
                for i in range(3)
            ),
            {
                "id": "pg",
                "kind": "cluster",
                "env": "prod",
                "members": ["db-0", "db-1", "db-2"],
                "quorum": quorum,
            },
        ],
        "max_parallel": 1,
        "canary": 1,
        "max_unavailable": 1,
    }
    with pytest.raises(InputError, match="leaves none to take out"):
        _plan(spec)
