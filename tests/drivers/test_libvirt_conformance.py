"""The hypervisor suite against real libvirt: three libvirtd instances and running guests.

The lab (``patchwarden.testing.lab_libvirt``, needs root) runs three libvirtd, each with its
own configuration, host UUID and address, and four small guests, each with an HTTP service.
Migrations here are real live migrations of running QEMU guests between the daemons.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance import HypervisorCase, HypervisorConformance

from patchwarden.domain.assets import Hypervisor
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.libvirt import (
    LibvirtHost,
    LibvirtHypervisors,
    LibvirtSettings,
    MigrationProgress,
)
from patchwarden.drivers.real import RealClock
from patchwarden.drivers.registry import REGISTRY, DriverContext, DriverKind
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import DriverError
from patchwarden.testing.lab_libvirt import LibvirtLab, shared_libvirt_lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the libvirt lab needs root (make test runs as root)"
    ),
]


@pytest.fixture(scope="module")
def vlab() -> Iterator[LibvirtLab]:
    with shared_libvirt_lab() as running:
        yield running


def hypervisors(lab: LibvirtLab, state_dir: Path, **settings: Any) -> LibvirtHypervisors:
    return LibvirtHypervisors.of(
        LibvirtHost(hv.id, LibvirtSettings(uri=hv.uri, state_dir=str(state_dir), **settings))
        for hv in lab.hypervisors
    )


def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Poller:
    """Polls a guest's service every 0.1 s in a thread; counts answers and failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    answer.read()
                self.ok += 1
            except OSError:
                self.failed += 1
            time.sleep(0.1)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class TestLibvirtHypervisor(HypervisorConformance):
    @pytest.fixture
    def run(self) -> Any:
        return run_one

    @pytest.fixture
    def hypervisor_driver(self, vlab: LibvirtLab, tmp_path: Path) -> Iterator[LibvirtHypervisors]:
        driver = hypervisors(vlab, tmp_path)
        yield driver
        run_one(driver.close())

    @pytest.fixture
    def hypervisor_case(self) -> HypervisorCase:
        return HypervisorCase(vm="lab-vm-3", destination="lab-hv-3")


def test_the_driver_is_registered_and_built_from_an_asset(vlab: LibvirtLab) -> None:
    spec = REGISTRY.spec(DriverKind.HYPERVISOR, "libvirt")
    hv = Hypervisor.model_validate({
        "id": "lab-hv-1", "kind": "hypervisor", "env": "dev", "driver": "libvirt",
        "driver_config": {"uri": vlab.uri("lab-hv-1")}, "capacity": {"vcpus": 2, "memory_gb": 1},
    })  # fmt: skip
    context = DriverContext(Inventory(assets=(hv,)), hv, LocalTransport(), RealClock())
    host = spec.build(hv.driver_config, context)
    assert isinstance(host, LibvirtHost)
    assert host.host_uuid() == vlab.hypervisor("lab-hv-1").host_uuid
    host.close()


def test_each_hypervisor_is_its_own_host(vlab: LibvirtLab, tmp_path: Path) -> None:
    driver = hypervisors(vlab, tmp_path)
    uuids = {h.host_uuid() for h in driver.hosts.values()}
    assert len(uuids) == 3, "three daemons, three host UUIDs"
    where = {g.id: run_one(driver.placement(g.id)) for g in vlab.guests}
    assert where == {g.id: g.hypervisor for g in vlab.guests}
    run_one(driver.close())


def test_capacity_and_allocation_come_from_libvirt(vlab: LibvirtLab, tmp_path: Path) -> None:
    driver = hypervisors(vlab, tmp_path)
    room = run_one(driver.capacity("lab-hv-1"))
    assert room.vcpus == os.cpu_count()
    assert room.memory_mib > 1024
    guests = [g for g in run_one(driver.guests("lab-hv-1")) if g.active]
    assert {g.name for g in guests} == {"lab-vm-1", "lab-vm-2"}
    assert room.allocated_vcpus == 2
    assert room.allocated_memory_mib == sum(g.memory_mib for g in guests)
    assert room.allocated_memory_mib == 2 * vlab.config.guest_memory_mib
    run_one(driver.close())


def test_live_migration_keeps_the_guest_running_and_answering(
    vlab: LibvirtLab, tmp_path: Path
) -> None:
    driver = hypervisors(vlab, tmp_path, progress_poll_s=0.2)
    readings: list[MigrationProgress] = []
    driver.on_progress = readings.append
    guest = vlab.guest("lab-vm-4")
    before = vlab.guest_identity(guest)
    with Poller(f"{guest.url}healthz") as poller:
        run_one(driver.migrate(guest.id, "lab-hv-2"))
        time.sleep(0.5)
    after = vlab.guest_identity(guest)
    try:
        assert run_one(driver.placement(guest.id)) == "lab-hv-2"
        assert after["boot_id"] == before["boot_id"], "the same boot: moved, not restarted"
        assert float(after["uptime"]) > float(before["uptime"])
        assert poller.failed == 0 and poller.ok >= 5
        assert driver.migrations[-1].source == "lab-hv-3"
        assert driver.migrations[-1].seconds > 0
        assert readings and readings[-1].vm == guest.id
    finally:
        run_one(driver.migrate(guest.id, "lab-hv-3"))
        run_one(driver.close())


def test_a_migration_past_its_timeout_is_aborted_and_the_guest_stays(
    vlab: LibvirtLab, tmp_path: Path
) -> None:
    driver = hypervisors(vlab, tmp_path, migration_timeout_s=0.3, progress_poll_s=0.1)
    guest = vlab.guest("lab-vm-3")
    with pytest.raises(DriverError, match="aborted"):
        run_one(driver.migrate(guest.id, "lab-hv-1"))
    assert run_one(driver.placement(guest.id)) == "lab-hv-2"
    vlab.wait_guest(guest, 10)
    run_one(driver.close())


def test_maintenance_is_recorded_for_every_process(vlab: LibvirtLab, tmp_path: Path) -> None:
    first, second = hypervisors(vlab, tmp_path), hypervisors(vlab, tmp_path)
    run_one(first.set_maintenance("lab-hv-2", True))
    try:
        assert run_one(second.in_maintenance("lab-hv-2"))
        assert (tmp_path / "lab-hv-2.maintenance.json").exists()
    finally:
        run_one(first.set_maintenance("lab-hv-2", False))
    assert not run_one(second.in_maintenance("lab-hv-2"))


def test_a_restarted_libvirtd_keeps_its_guests_and_the_driver_reconnects(
    vlab: LibvirtLab, tmp_path: Path
) -> None:
    driver = hypervisors(vlab, tmp_path)
    guest = vlab.guest("lab-vm-4")
    before = vlab.guest_identity(guest)
    assert run_one(driver.placement(guest.id)) == "lab-hv-3"
    old = vlab.daemon_pid("lab-hv-3")
    new = vlab.restart_daemon("lab-hv-3")
    assert new != old
    assert run_one(driver.placement(guest.id)) == "lab-hv-3"
    assert vlab.guest_identity(guest)["boot_id"] == before["boot_id"]
    run_one(driver.close())
