"""Snapshots against real libvirt: guests whose state lives on a qcow2 disk.

The lab (``patchwarden.testing.lab_snapshots``, needs root) runs one libvirtd and two
guests, each with a qcow2 disk built by the set-up; each guest reports the version of its
application read from that disk, and its own agent installs another version on it. The
snapshot suite then takes real internal snapshots (disk and memory) and reverts to them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance import SnapshotCase, SnapshotConformance

from patchwarden.drivers.libvirt import LibvirtHost, LibvirtHypervisors, LibvirtSettings
from patchwarden.testing.lab_libvirt import APP_BROKEN, APP_INITIAL, LibvirtLab
from patchwarden.testing.lab_snapshots import app_state, install_app, shared_snapshot_lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the libvirt lab needs root (make test runs as root)"
    ),
]


@pytest.fixture(scope="module")
def slab() -> Iterator[LibvirtLab]:
    with shared_snapshot_lab() as running:
        yield running


def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def driver_of(lab: LibvirtLab, state_dir: Path) -> LibvirtHypervisors:
    return LibvirtHypervisors.of(
        LibvirtHost(hv.id, LibvirtSettings(uri=hv.uri, state_dir=str(state_dir)))
        for hv in lab.hypervisors
    )


@pytest.mark.timeout(240)
def test_the_guests_state_lives_on_its_disk_and_its_agent_changes_it(slab: LibvirtLab) -> None:
    guest = slab.guests[1]
    first = app_state(guest)
    assert first["app_version"] == APP_INITIAL and first["health"] == "ok", first
    install_app(guest, "1.0-2")
    assert app_state(guest)["app_version"] == "1.0-2"
    slab.power_cycle(guest.id)
    again = app_state(guest)
    assert again["boot_id"] != first["boot_id"], "a new boot"
    assert again["app_version"] == "1.0-2", "what the guest wrote is on its disk"
    install_app(guest, APP_BROKEN)
    assert app_state(guest)["health"] == "failing"
    install_app(guest, APP_INITIAL)
    assert app_state(guest) | {"boot_id": "", "uptime": ""} == again | {
        "app_version": APP_INITIAL, "boot_id": "", "uptime": ""}  # fmt: skip


class TestLibvirtSnapshots(SnapshotConformance):
    @pytest.fixture
    def run(self) -> Any:
        return run_one

    @pytest.fixture
    def snapshot_driver(self, slab: LibvirtLab, tmp_path: Path) -> Iterator[LibvirtHypervisors]:
        driver = driver_of(slab, tmp_path)
        yield driver
        run_one(driver.close())

    @pytest.fixture
    def snapshot_case(self, slab: LibvirtLab) -> SnapshotCase:
        guest = slab.guests[0]

        def state() -> Hashable:
            seen = app_state(guest)
            return seen["boot_id"], seen["app_version"], seen["health"]

        return SnapshotCase(
            guest.id, state, lambda: install_app(guest, APP_BROKEN), unsupported="snap-vm-9"
        )
