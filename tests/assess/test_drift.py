from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.assess.baseline import PatchBaseline, take_snapshot
from patchwarden.assess.drift import drift, groups_of, version_rows
from patchwarden.domain.advisories import Advisory
from patchwarden.inventory import parse_inventory

TEXT = """
assets:
  - {id: w1, kind: vm, env: prod, roles: [web], os: {family: debian, release: '12'}, packages: {nginx: 1.22.1-9, openssl: 3.0.11-1, curl: '7.88'}}
  - {id: w2, kind: vm, env: prod, roles: [web], os: {family: debian, release: '12'}, packages: {nginx: 1.22.1-9, openssl: 3.0.11-1, curl: '7.88'}}
  - {id: w3, kind: vm, env: prod, roles: [web], os: {family: debian, release: '12'}, packages: {nginx: 1.22.1-8, openssl: 3.0.15-1}}
  - {id: db, kind: vm, env: prod, roles: [db], os: {family: debian, release: '12'}, packages: {postgresql: '15', openssl: 3.0.11-1}}
  - {id: app, kind: application, env: prod, ecosystem: PyPI, packages: {django: 4.2.7}}
  - {id: lb, kind: load_balancer, env: prod, pools: [{name: web, members: [w1, w2, w3]}]}
"""


def _inv():
    return parse_inventory([("d.yaml", TEXT)]).inventory


def test_groups_are_roles_clusters_pools_and_environments() -> None:
    names = [(k, n) for k, n, _ in groups_of(_inv())]
    assert names == [("pool", "lb/web"), ("role", "web"), ("env", "prod")]


def test_deviations_say_behind_ahead_and_absent() -> None:
    groups = {(g.kind, g.name): g for g in drift(_inv())}
    web = groups[("role", "web")]
    got = [(d.asset_id, d.package, d.version, d.reference, d.how) for d in web.deviations]
    assert got == [
        ("w3", "curl", "", "7.88", "absent"),
        ("w3", "nginx", "1.22.1-8", "1.22.1-9", "behind"),
        ("w3", "openssl", "3.0.15-1", "3.0.11-1", "ahead"),
    ]
    # Environments mix roles: only versions count, not packages another role lacks.
    env = groups[("env", "prod")]
    assert {d.how for d in env.deviations} == {"behind", "ahead"}
    assert not web.aligned


def test_version_rows_carry_the_baseline_target() -> None:
    adv = Advisory.model_validate(
        {
            "id": "DSA-1",
            "modified": "2026-11-01T00:00:00Z",
            "severity": "high",
            "affected": [
                {
                    "ecosystem": "Debian:12",
                    "package": "openssl",
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "3.0.15-1"}],
                        }
                    ],
                }
            ],
        }
    )
    base = PatchBaseline.model_validate(
        {"name": "deb", "os_family": "debian", "approval_rules": [{"approve_after_days": 0}]}
    )
    snap = take_snapshot(base, [adv], datetime(2026, 11, 20, tzinfo=UTC))
    rows = {(r.asset_id, r.package): r for r in version_rows(_inv(), {"debian": snap})}
    assert (rows[("w1", "openssl")].target, rows[("w1", "openssl")].status) == (
        "3.0.15-1",
        "below target",
    )
    assert rows[("w3", "openssl")].status == "at target"
    assert rows[("w1", "nginx")].status == "no target"
    assert rows[("app", "django")].status == "no baseline"
    assert rows[("w1", "openssl")].snapshot_id == snap.id
