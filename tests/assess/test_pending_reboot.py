"""A reboot the host asks for reaches compliance and planning, from what scans read.

Scans record ``/run/reboot-required`` (Debian family) and ``needs-restarting -r`` (RHEL
family) as the asset's ``pending_reboot`` and the packages that asked; nothing else has to
pass it along: a baseline check reports such a patch ``installed_pending_reboot``, and a
plan reboots the host after its next patch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from patchwarden.assess.assessment import assess
from patchwarden.assess.baseline import PatchBaseline, take_snapshot
from patchwarden.assess.compliance import PatchState, check_compliance
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import StepAction
from patchwarden.inventory import parse_inventory
from patchwarden.planning.plan import plan_campaign
from patchwarden.service.scan import HostScan, scanned_inventory

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _advisory(ident: str, package: str, fixed: str) -> Advisory:
    return Advisory.model_validate(
        {
            "id": ident,
            "modified": "2026-11-01T00:00:00Z",
            "published": "2026-11-10T00:00:00Z",
            "severity": "high",
            "affected": [
                {
                    "package": package,
                    "ecosystem": "Debian:12",
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                    ],
                }
            ],
        }
    )


KERNEL = _advisory("DSA-21", "linux-image-amd64", "6.1.90-1")
WEB = _advisory("DSA-22", "pw-web", "1.0-2")


def _inventory(*assets: dict[str, Any]) -> Inventory:
    text = yaml.safe_dump({"assets": list(assets)})
    return parse_inventory([("inv.yaml", text)]).inventory


def _vm(ident: str, packages: dict[str, str]) -> dict[str, Any]:
    return {
        "id": ident,
        "kind": "vm",
        "env": "prod",
        "os": {"family": "debian", "release": "12"},
        "packages": packages,
        "connection": {"transport": "ssh", "address": "192.0.2.9"},
    }


def _scan(ident: str, packages: dict[str, str], reboot: tuple[str, ...] | None) -> HostScan:
    return HostScan(
        ident,
        "ssh",
        NOW,
        ecosystem="Debian:12",
        packages=packages,
        os_release={"ID": "debian", "VERSION_ID": "12"},
        reboot_required=reboot is not None,
        reboot_packages=reboot or (),
    )


def test_scanned_reboot_state_makes_an_installed_patch_pending_a_reboot() -> None:
    patched = {"linux-image-amd64": "6.1.90-1", "pw-web": "1.0-2"}
    inventory = _inventory(_vm("asked", patched), _vm("rebooted", patched), _vm("unnamed", patched))
    scans = {
        "asked": {"ssh": _scan("asked", patched, ("linux-image-amd64",))},
        "rebooted": {"ssh": _scan("rebooted", patched, None)},
        # Asks for a reboot without naming a package: nothing installed counts as in effect.
        "unnamed": {"ssh": _scan("unnamed", patched, ())},
    }
    scanned, _ = scanned_inventory(inventory, scans)
    assert scanned.get("asked").pending_reboot_packages == ("linux-image-amd64",)
    baseline = PatchBaseline.model_validate(
        {
            "name": "deb",
            "os_family": "debian",
            "approval_rules": [{"classification": ["security"], "approve_after_days": 0}],
        }
    )
    snapshot = take_snapshot(baseline, [KERNEL, WEB], NOW)
    results = check_compliance(scanned, {"debian": snapshot}, {a.id: a for a in (KERNEL, WEB)})
    states = {r.asset_id: {p.package: p.state for p in r.patches} for r in results}
    assert states == {
        "asked": {
            "linux-image-amd64": PatchState.INSTALLED_PENDING_REBOOT,
            "pw-web": PatchState.INSTALLED,
        },
        "rebooted": {
            "linux-image-amd64": PatchState.INSTALLED,
            "pw-web": PatchState.INSTALLED,
        },
        "unnamed": {
            "linux-image-amd64": PatchState.INSTALLED_PENDING_REBOOT,
            "pw-web": PatchState.INSTALLED_PENDING_REBOOT,
        },
    }
    assert [r.compliant for r in results] == [False, True, False]


def test_a_host_pending_a_reboot_reboots_after_its_next_patch() -> None:
    # pw-web's fix needs no reboot of its own; only the pending one adds the step.
    old = {"pw-web": "1.0-1"}
    inventory = _inventory(_vm("pending", old), _vm("fresh", old))
    scans = {
        "pending": {"ssh": _scan("pending", old, ("libc6",))},
        "fresh": {"ssh": _scan("fresh", old, None)},
    }
    scanned, _ = scanned_inventory(inventory, scans)
    campaign = Campaign.model_validate(
        {"name": "c", "groups": {"all": {"select": {"kind": "vm"}, "strategy": "all_at_once"}}}
    )
    assessment = assess(scanned, [WEB], NOW)
    plan = plan_campaign(
        scanned, campaign, assessment.decisions, {WEB.id: WEB}, assessment.fixes, NOW
    )
    actions = {u.target: [s.action for s in u.steps] for u in plan.units()}
    assert actions["pending"] == [StepAction.PATCH, StepAction.REBOOT, StepAction.HEALTH]
    assert actions["fresh"] == [StepAction.PATCH, StepAction.HEALTH]
