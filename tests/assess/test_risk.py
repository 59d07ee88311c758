from __future__ import annotations

from datetime import datetime

import pytest

from patchwarden.assess.policy import Policy
from patchwarden.assess.risk import (
    Redundancy,
    change_size,
    classify,
    failed_envs,
    needs_reboot,
    redundancy_of,
    risk_of_not_patching,
    risk_of_patching,
)
from patchwarden.domain.advisories import Advisory, Finding, Severity
from patchwarden.domain.assets import Vm
from patchwarden.inventory import parse_inventory

T = datetime(2026, 11, 1)


def _adv(**kw: object) -> Advisory:
    return Advisory.model_validate({"id": "A-1", "modified": T, **kw})


def _finding(**kw: object) -> Finding:
    base = {
        "asset_id": "web-1",
        "advisory_id": "A-1",
        "package": "openssl",
        "ecosystem": "Debian:12",
        "installed": "3.0.11-1~deb12u2",
        "fixed": "3.0.11-1~deb12u3",
        "severity": "high",
    }
    return Finding.model_validate({**base, **kw})


@pytest.mark.parametrize(
    ("advisory", "expected"),
    [
        (_adv(), ("security", Severity.MEDIUM)),
        (_adv(id="RHBA-2026:1"), ("bugfix", Severity.LOW)),
        (_adv(id="RHEA-2026:1"), ("enhancement", Severity.LOW)),
        (_adv(id="RHSA-2026:1", severity="high"), ("security", Severity.HIGH)),
        (_adv(summary="Fix typo in man page"), ("cosmetic", Severity.NONE)),
        (_adv(summary="Fix typo", cvss_score=5.0), ("security", Severity.MEDIUM)),
        (
            _adv(id="RHBA-2026:2", database_specific={"severity": "high"}, severity="high"),
            ("bugfix", Severity.HIGH),
        ),
        (
            _adv(classification="bugfix", database_specific={"classification": "bugfix"}),
            ("bugfix", Severity.LOW),
        ),
    ],
)
def test_classify(advisory: Advisory, expected: tuple[str, Severity]) -> None:
    assert classify(advisory) == expected


@pytest.mark.parametrize(
    ("installed", "fixed", "size"),
    [
        ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3", "revision"),
        ("3.0.11-1~deb12u2", "3.0.15-1~deb12u1", "patch"),
        ("3.0.11-1", "3.1.0-1", "minor"),
        ("15.5-0+deb12u1", "16.1-1", "major"),
        ("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", "revision"),
        ("4.2.7", "4.2.16", "patch"),
        ("5.1.8-6.el9", "5.1.8-9.el9", "revision"),
        ("1.2.3.4", "1.2.3.5", "patch"),
    ],
)
def test_change_size(installed: str, fixed: str, size: str) -> None:
    assert change_size(installed, fixed) == size


def test_not_patching_grows_with_exposure_criticality_and_environment() -> None:
    p = Policy()
    adv = _adv(severity="high")
    internal = Vm(id="web-1", kind="vm", env="dev")
    exposed = internal.model_copy(update={"internet_facing": True})
    crit_prod = exposed.model_copy(update={"env": "prod", "criticality": "critical"})
    scores = [
        risk_of_not_patching(_finding(), a, adv, p).points for a in (internal, exposed, crit_prod)
    ]
    assert scores == sorted(scores) and len(set(scores)) == 3
    assert scores[-1] == (28 + 20) * 1.5
    kev = risk_of_not_patching(_finding(kev=True, epss=0.2), crit_prod, adv, p)
    assert kev.points == (28 + 20 + 30 + 15) * 1.5
    assert kev.factors[:2] == ("KEV-listed", "high severity")
    assert "business-critical asset" in kev.factors


def test_patching_risk_counts_reboot_core_failures_uptime_and_redundancy() -> None:
    p = Policy()
    vm = Vm(id="db-1", kind="vm", env="prod", criticality="critical")
    kernel = _finding(package="linux-image-amd64", installed="6.1.76-1", fixed="6.1.90-1")
    lone = risk_of_patching(kernel, vm, _adv(), p, redundancy=Redundancy(False))
    spare = risk_of_patching(kernel, vm, _adv(), p, redundancy=Redundancy(True, "pool"))
    failed = risk_of_patching(
        kernel, vm, _adv(), p, redundancy=Redundancy(True), failed_before=["staging"]
    )
    assert lone.points == 20 + 15 + 3 + 20 + 20
    assert spare.points == lone.points - 20
    assert failed.points == spare.points + 50
    assert failed.factors[0] == "failed before in staging"
    assert needs_reboot("libc6", _adv(), p) and needs_reboot("nginx", _adv(reboot_required=True), p)
    assert not needs_reboot("nginx", _adv(), p)


def test_failed_envs_matches_exact_advisory_and_package_wildcards() -> None:
    failures = {("A-1", "openssl"): ["qa"], ("*", "openssl"): ["dev"], ("A-1", "*"): ["staging"]}
    assert failed_envs(failures, "A-1", "openssl") == {"qa", "dev", "staging"}
    assert failed_envs(failures, "A-2", "openssl") == {"dev"}
    assert failed_envs(failures, "A-2", "curl") == frozenset()


def test_redundancy_of_pools_clusters_ha_pairs_storage_and_images() -> None:
    text = """
assets:
  - {id: w1, kind: vm, env: prod}
  - {id: w2, kind: vm, env: prod}
  - {id: solo, kind: vm, env: prod}
  - {id: tight1, kind: vm, env: prod}
  - {id: tight2, kind: vm, env: prod}
  - {id: lb, kind: load_balancer, env: prod, pools: [{name: web, members: [w1, w2], min_healthy: 1}, {name: t, members: [tight1, tight2], min_healthy: 2}]}
  - {id: n1, kind: vm, env: prod}
  - {id: n2, kind: vm, env: prod}
  - {id: n3, kind: vm, env: prod}
  - {id: c, kind: cluster, env: prod, members: [n1, n2, n3]}
  - {id: q1, kind: vm, env: prod}
  - {id: q2, kind: vm, env: prod}
  - {id: cq, kind: cluster, env: prod, members: [q1, q2], quorum: 2}
  - {id: fw1, kind: virtual_appliance, env: prod, function: firewall, vendor: x, firmware: '1', ha_peer: fw2}
  - {id: fw2, kind: virtual_appliance, env: prod, function: firewall, vendor: x, firmware: '1'}
  - {id: san, kind: storage_system, env: prod, parts: [{id: a, type: controller, firmware: '1', redundancy_group: ctl}, {id: b, type: controller, firmware: '1', redundancy_group: ctl}]}
  - {id: san1, kind: storage_system, env: prod, parts: [{id: a, type: controller, firmware: '1', redundancy_group: ctl}]}
  - {id: img, kind: image, env: prod}
"""
    inv = parse_inventory([("r.yaml", text)]).inventory
    spare = {k for k, v in redundancy_of(inv).items() if v.spare}
    assert spare == {"w1", "w2", "n1", "n2", "n3", "fw1", "fw2", "san", "img"}
    assert redundancy_of(inv)["w1"].how == "pool web: 2 members, 1 must stay up"
