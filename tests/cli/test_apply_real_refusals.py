"""`apply --real` refuses, before any run exists, steps no configured driver can carry out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.domain.steps import AnalyzeParams, DrainParams, EnableParams, MaintenanceOnParams
from patchwarden.drivers.packages import PACKAGE_MANAGERS, package_manager
from patchwarden.drivers.real import real_drivers
from patchwarden.errors import DriverError, ValidationFailed
from patchwarden.planning.steps import host_unit, step
from patchwarden.service.real import real_drivers_for
from patchwarden.service.sources import read_inventory
from patchwarden.store import open_store

INVENTORY = """\
assets:
  - id: hv-01
    kind: hypervisor
    env: dev
    capacity: {vcpus: 8, memory_gb: 32}
    connection: {transport: local}
  - id: web-01
    kind: vm
    env: dev
    os: {family: debian, release: "12"}
    connection: {transport: local}
  - id: web-02
    kind: vm
    env: dev
    os: {family: alpine, release: "3.20"}
    connection: {transport: local}
  - id: web-03
    kind: vm
    env: dev
  - id: lb-01
    kind: load_balancer
    env: dev
    pools: [{name: web, members: [web-01, web-02, web-03]}]
"""

DRAIN = DrainParams(lb="lb-01", pool="web")
ENABLE = EnableParams(lb="lb-01", pool="web")


def _plan() -> Plan:
    wave = "dev.web"
    units = tuple(
        host_unit(wave, host, (("pw-web", "1.0-2"),), False, before=[DRAIN], after=[ENABLE])
        for host in ("web-01", "web-02", "web-03")
    )  # fmt: skip
    hv = step("dev.hv/hv-01", 0, MaintenanceOnParams(), "hv-01")
    hv_unit = units[0].model_copy(update={"id": "dev.hv/hv-01", "target": "hv-01",
                                          "steps": (hv,), "rollback": ()})  # fmt: skip
    return Plan(
        campaign="refusals",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        environments=("dev",),
        waves=(
            Wave(id=wave, env="dev", group="web", strategy="rolling",
                 batches=(Batch(id=f"{wave}/b0", units=units),)),
            Wave(id="dev.hv", env="dev", group="hv", strategy="evacuate",
                 batches=(Batch(id="dev.hv/b0", units=(hv_unit,)),)),
        ),
    )  # fmt: skip


def test_one_table_routes_each_os_family_to_its_package_manager() -> None:
    assert {f: PACKAGE_MANAGERS[f] for f in ("debian", "ubuntu")} == dict.fromkeys(
        ("debian", "ubuntu"), "apt"
    )
    for family in ("rhel", "alma", "almalinux", "rocky", "centos", "fedora"):
        assert package_manager([family]) == "dnf", family
    assert package_manager(["alpine"]) == "apk", "Alpine is not apt"
    assert package_manager(["windows"]) is None


def test_an_alpine_host_has_no_package_driver_rather_than_apt(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    real = real_drivers(read_inventory([path]).inventory)
    assert type(real.packages_for("web-01")).__name__ == "AptDriver"
    with pytest.raises(DriverError, match=r"web-02: no package driver .*\(apk\)"):
        real.packages_for("web-02")


def test_missing_drivers_are_refused_with_the_asset_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    with pytest.raises(ValidationFailed) as refused:
        real_drivers_for([path], _plan())
    lines = str(refused.value).splitlines()
    assert lines == [
        f"{path}:2: hv-01.driver: step maintenance_on of hv-01 needs a real hypervisor driver "
        "(hint: add `driver: libvirt` and its `driver_config`)",
        f"{path}:12: web-02.os: step patch of web-02: no package driver for OS family 'alpine' "
        "(package manager apk) (hint: registered package drivers: apt, dnf)",
        f"{path}:17: web-03.connection: step patch of web-03 needs to reach the host (hint: add "
        "`connection: {transport: ssh, address: ..., user: ...}`)",
        f"{path}:20: lb-01.driver: step drain of web-01 needs a real driver for load balancer "
        "'lb-01' (hint: add `driver: haproxy` and its `driver_config`)",
    ]


def test_apply_real_exits_2_and_starts_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    plan = tmp_path / "plan.json"
    plan.write_text(_plan().model_dump_json())
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    code = main(["apply", str(plan), "-i", str(inventory), "--real", "--db", db])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lb-01.driver: step drain of web-01 needs a real driver" in err
    assert "nothing was changed" in err
    with open_store(db) as store:
        assert store.latest_run() is None


CANARY_INVENTORY = """\
assets:
  - id: web-01
    kind: vm
    env: dev
    os: {family: debian, release: "12"}
    connection: {transport: local}
  - id: web-02
    kind: vm
    env: dev
    os: {family: debian, release: "12"}
    connection: {transport: local}
  - id: lb-01
    kind: load_balancer
    env: dev
    driver: haproxy
    driver_config:
      socket: /run/haproxy/admin.sock
      pools: {web: {backend: web%s}}
    pools: [{name: web, members: [web-01, web-02]}]
"""


def _analysis_plan() -> Plan:
    analyze = AnalyzeParams(lb="lb-01", pool="web", canaries=("web-01",),
                            baseline=("web-02",), seconds=5)  # fmt: skip
    unit = host_unit("dev.web", "web-01", (("pw-web", "1.0-2"),), False)
    analysis = unit.model_copy(update={
        "id": "dev.web/lb-01.web-analysis", "target": "lb-01/web", "rollback": (),
        "steps": (step("dev.web/lb-01.web-analysis", 0, analyze, "lb-01/web"),)})  # fmt: skip
    wave = Wave(id="dev.web", env="dev", group="web", strategy="canary",
                batches=(Batch(id="dev.web#canary", units=(unit,)),
                         Batch(id="dev.web#analysis", units=(analysis,))))  # fmt: skip
    return Plan(campaign="canary", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                environments=("dev",), waves=(wave,))  # fmt: skip


def test_a_canary_without_a_metrics_source_is_refused_not_passed(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(CANARY_INVENTORY % "")
    with pytest.raises(ValidationFailed) as refused:
        real_drivers_for([path], _analysis_plan())
    (line,) = str(refused.value).splitlines()
    assert line.startswith(
        f"{path}:12: lb-01.driver_config.pools.web.metrics: step analyze of lb-01/web judges "
        "the requests of pool 'web', and load balancer 'lb-01' names no source"
    ), line
    assert "add `metrics: {log: HOST:PORT}` under driver_config.pools.web" in line


def test_a_canary_with_the_lb_request_log_as_source_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(CANARY_INVENTORY % ", metrics: {log: '127.0.0.1:5599'}")
    run = real_drivers_for([path], _analysis_plan())
    assert run.real.metered_pools == {"lb-01": frozenset({"web"})}
    assert run.drivers.metrics is not None and "lb-01" in run.drivers.metrics


def test_apply_real_of_an_unmeasured_canary_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(CANARY_INVENTORY % "")
    plan = tmp_path / "plan.json"
    plan.write_text(_analysis_plan().model_dump_json())
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    code = main(["apply", str(plan), "-i", str(inventory), "--real", "--db", db])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lb-01.driver_config.pools.web.metrics" in err
    with open_store(db) as store:
        assert store.latest_run() is None


ETCD_INVENTORY = """\
assets:
  - {id: etcd-1, kind: vm, env: dev, connection: {transport: local}}
  - {id: etcd-2, kind: vm, env: dev, connection: {transport: local}}
  - id: etcd-main
    kind: cluster
    env: dev
    software: etcd
    members: [etcd-1, etcd-2]
    driver: etcd
    driver_config:
      endpoints: {etcd-1: "http://127.0.0.1:1", etcd-2: "http://127.0.0.1:2"}
"""


def test_a_controller_based_upgrade_is_refused_on_the_real_path(tmp_path: Path) -> None:
    """No real cluster driver hands a patch set to a controller: refused before any run."""
    from patchwarden.domain.steps import DistributeParams, UploadParams

    path = tmp_path / "inventory.yaml"
    path.write_text(ETCD_INVENTORY)
    pins = (("etcd", "3.4.23-5"),)
    steps = (
        step("dev.db/etcd-main", 0, UploadParams(packages=pins), "etcd-main"),
        step(
            "dev.db/etcd-main",
            1,
            DistributeParams(packages=pins, members=("etcd-1", "etcd-2")),
            "etcd-main",
        ),
    )
    unit = host_unit("dev.db", "etcd-main", pins, False).model_copy(
        update={"id": "dev.db/etcd-main", "steps": steps, "rollback": ()}
    )
    plan = Plan(
        campaign="controller",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        environments=("dev",),
        waves=(
            Wave(id="dev.db", env="dev", group="db", strategy="controller",
                 batches=(Batch(id="dev.db/b0", units=(unit,)),)),
        ),
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        real_drivers_for([path], plan)
    assert str(refused.value).splitlines() == [
        f"{path}:4: etcd-main.driver: step upload of etcd-main: controller-based upgrades "
        "run on the simulated estate only; no real cluster driver of this estate hands a patch "
        "set to a controller (etcd cannot) (hint: roll the cluster member by member with "
        "`strategy: cluster_rolling`, or run this group with `apply --sim`)"
    ]
