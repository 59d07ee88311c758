"""Baselines of Debian and Ubuntu name source packages; hosts are held to them by source.

A baseline patch ``openssl=3.0.15-1~deb12u1`` (from a record naming the source) is
checked against the source version of the binaries built from it (``libssl3``), not
against a binary called ``openssl`` that the host may not have at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.assess.baseline import PatchBaseline, take_snapshot
from patchwarden.assess.compliance import PatchState, check_compliance
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.assets import Vm
from patchwarden.domain.inventory import Inventory

NOW = datetime(2026, 11, 20, tzinfo=UTC)
DSA = Advisory.model_validate(
    {
        "id": "DSA-9950-1",
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-11-10T00:00:00Z",
        "severity": "high",
        "affected": [
            {
                "package": "openssl",
                "ecosystem": "Debian:12",
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "3.0.15-1~deb12u1"}],
                    }
                ],
            }
        ],
    }
)


def _vm(ident: str, libssl3: str, source: str, **more: object) -> Vm:
    return Vm.model_validate(
        {
            "id": ident,
            "kind": "vm",
            "env": "prod",
            "os": {"family": "debian", "release": "12"},
            "packages": {"libssl3": libssl3, "curl": "7.88.1-10"},
            "package_sources": {"libssl3": ["openssl", source]},
            **more,
        }
    )


def test_a_source_patch_is_checked_on_the_binaries_built_from_it() -> None:
    inventory = Inventory(
        assets=(
            _vm("old", "3.0.11-1~deb12u2+b1", "3.0.11-1~deb12u2"),
            _vm("patched", "3.0.15-1~deb12u1+b1", "3.0.15-1~deb12u1"),
            _vm(
                "waiting",
                "3.0.15-1~deb12u1",
                "3.0.15-1~deb12u1",
                pending_reboot=True,
                pending_reboot_packages=["libssl3"],
            ),
        )
    )
    baseline = PatchBaseline.model_validate(
        {
            "name": "deb",
            "os_family": "debian",
            "approval_rules": [{"classification": ["security"], "approve_after_days": 0}],
        }
    )
    snapshot = take_snapshot(baseline, [DSA], NOW)
    results = check_compliance(
        inventory, {"debian": snapshot}, {DSA.id: DSA}, failed={"old": {"libssl3"}}
    )
    rows = {r.asset_id: [(p.package, p.installed, p.state) for p in r.patches] for r in results}
    assert rows == {
        # The install of libssl3 failed there: the source's patch failed.
        "old": [("openssl", "3.0.11-1~deb12u2", PatchState.FAILED)],
        "patched": [("openssl", "3.0.15-1~deb12u1", PatchState.INSTALLED)],
        "waiting": [("openssl", "3.0.15-1~deb12u1", PatchState.INSTALLED_PENDING_REBOOT)],
    }
