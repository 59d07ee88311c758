"""Order of operations: prerequisites in a host, patch_after across hosts, cycles refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from patchwarden.domain.advisories import Action, Advisory, Decision
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.planning.order import PatchOrderError, install_order
from patchwarden.planning.plan import is_reboot_package, plan_campaign
from patchwarden.testing.decisions import patch_everything

NOW = datetime(2026, 11, 24, tzinfo=UTC)
OS = {"family": "debian", "release": "12"}
OLD = {
    "libssl3": "3.0.11-1",
    "openssl": "3.0.11-1",
    "nginx": "1.22.1-9",
    "linux-image-amd64": "6.1.76-1",
}
NEW = {
    "libssl3": "3.0.15-1",
    "openssl": "3.0.15-1",
    "nginx": "1.22.1-10",
    "linux-image-amd64": "6.1.115-1",
}


def _plan(
    assets: list[dict[str, Any]],
    requires: dict[str, list[str]] | None = None,
    groups: dict[str, Any] | None = None,
) -> Plan:
    inv = Inventory.model_validate({"assets": assets})
    decisions, advisories, fixes = patch_everything(inv, NEW, NOW, advisory_id="A")
    campaign = Campaign.model_validate(
        {
            "name": "order",
            "groups": groups or {"hosts": {"select": {"kind": "vm"}, "strategy": "all_at_once"}},
            "requires": requires or {},
        }
    )
    return plan_campaign(inv, campaign, decisions, advisories, fixes, NOW)


def _vm(i: str, **extra: Any) -> dict[str, Any]:
    return {"id": i, "kind": "vm", "env": "prod", "os": OS, "packages": OLD, **extra}


def test_prerequisites_come_first_and_the_kernel_last() -> None:
    plan = _plan([_vm("web-1")], requires={"nginx": ["openssl"], "openssl": ["libssl3"]})
    patch = next(s for s in plan.units()[0].steps if s.action is StepAction.PATCH)
    assert [p[0] for p in patch.params.packages] == [
        "libssl3",
        "openssl",
        "nginx",
        "linux-image-amd64",
    ]
    assert [s.action for s in plan.units()[0].steps].count(StepAction.REBOOT) == 1


def test_a_prerequisite_cycle_is_refused_naming_it() -> None:
    with pytest.raises(
        PatchOrderError, match=r"cycle: (nginx -> openssl -> nginx|openssl -> nginx -> openssl)"
    ):
        _plan([_vm("web-1")], requires={"nginx": ["openssl"], "openssl": ["nginx"]})


def test_ties_break_by_name_so_the_hash_is_stable() -> None:
    order = install_order({"b": "1", "a": "1", "c": "1"}, {}, is_reboot_package)
    assert [n for n, _ in order] == ["a", "b", "c"]


def test_patch_after_moves_a_unit_behind_the_one_it_follows() -> None:
    plan = _plan([_vm("db-1"), _vm("app-1", patch_after=["db-1"]), _vm("web-1")])
    batches = [[u.target for u in b.units] for w in plan.waves for b in w.batches]
    assert batches == [["db-1", "web-1"], ["app-1"]]


def test_patch_after_across_waves_in_the_wrong_order_is_refused() -> None:
    groups = {
        "apps": {"select": {"role": "app"}, "strategy": "all_at_once"},
        "dbs": {"select": {"role": "db"}, "strategy": "all_at_once"},
    }
    with pytest.raises(PatchOrderError, match="app-1 must be patched after db-1"):
        _plan(
            [_vm("db-1", roles=["db"]), _vm("app-1", roles=["app"], patch_after=["db-1"])],
            groups=groups,
        )


def test_rolling_ramps_grow_batches_and_the_last_size_repeats() -> None:
    hosts = [_vm(f"h-{i:02d}") for i in range(12)]
    groups = {
        "hosts": {
            "select": {"kind": "vm"},
            "strategy": "rolling",
            "max_unavailable": 4,
            "ramp": [1, 2, "50%"],
        }
    }
    plan = _plan(hosts, groups=groups)
    # 1, then 2, then 50% of 12 = 6 but never above max_unavailable 4: 1, 2, 4, 4, 1.
    assert [len(b.units) for w in plan.waves for b in w.batches] == [1, 2, 4, 4, 1]


def test_error_budget_as_a_share_of_units() -> None:
    hosts = [_vm(f"h-{i:02d}") for i in range(20)]
    inv = Inventory.model_validate({"assets": hosts})
    decisions = [
        Decision(
            asset_id=a.id, advisory_id="A", package="openssl", action=Action.NEXT_WINDOW, reason="t"
        )
        for a in inv.assets
    ]
    fixes = {(a.id, "A", "openssl"): NEW["openssl"] for a in inv.assets}
    campaign = Campaign.model_validate(
        {
            "name": "b",
            "groups": {"h": {"select": {"kind": "vm"}, "strategy": "rolling"}},
            "rate": {"max_errors": "10%"},
        }
    )
    plan = plan_campaign(
        inv, campaign, decisions, {"A": Advisory(id="A", modified=NOW)}, fixes, NOW
    )
    assert plan.max_errors == 2
