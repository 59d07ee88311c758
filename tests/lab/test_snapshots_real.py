"""``rollback: snapshot`` for real, through the command line: libvirt, qcow2 disks, guest agents.

``patchwarden apply campaign.yaml --real`` runs as a process of its own against the
snapshot lab (one libvirtd, two guests whose application lives on their qcow2 disks). Each
guest is snapshotted (disk and memory) before its own agent installs the new version; a bad
version breaks the guest's service, and the rollback reverts the snapshot, so the guest
reports its old version and the boot id it had when the snapshot was taken. A good version
stays, and the snapshots are deleted after the soak time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.drivers.libvirt import LibvirtHost, LibvirtHypervisors, LibvirtSettings
from patchwarden.store import open_store
from patchwarden.testing.lab_evacuation import cli
from patchwarden.testing.lab_libvirt import APP_BROKEN, APP_INITIAL, LibvirtLab
from patchwarden.testing.lab_snapshots import (
    SNAPSHOT_CAMPAIGN,
    app_state,
    install_app,
    shared_snapshot_lab,
    write_snapshot_inventory,
)


@pytest.fixture(scope="module")
def slab() -> Iterator[LibvirtLab]:
    with shared_snapshot_lab() as running:
        yield running


def snapshots_left(lab: LibvirtLab) -> dict[str, list[str]]:
    """Every guest's snapshots, read through libvirt's API."""

    async def read() -> dict[str, list[str]]:
        driver = LibvirtHypervisors.of(
            LibvirtHost(hv.id, LibvirtSettings(uri=hv.uri)) for hv in lab.hypervisors
        )
        try:
            return {g.id: await driver.snapshots(g.id) for g in lab.guests}
        finally:
            await driver.close()

    return asyncio.run(read())


def prepare(lab: LibvirtLab, folder: Path, version: str) -> tuple[dict[str, str], Path, Path]:
    for guest in lab.guests:
        install_app(guest, APP_INITIAL)
    assert snapshots_left(lab) == {g.id: [] for g in lab.guests}
    inventory = write_snapshot_inventory(lab, folder / "inventory.yaml")
    campaign = folder / "campaign.yaml"
    campaign.write_text(SNAPSHOT_CAMPAIGN.format(version=version, soak=3))
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{folder / 'pw.db'}", "COLUMNS": "160"}
    return env, inventory, campaign


@pytest.mark.timeout(600)
def test_a_bad_patch_is_rolled_back_by_reverting_the_snapshot(
    slab: LibvirtLab, tmp_path: Path
) -> None:
    env, inventory, campaign = prepare(slab, tmp_path, APP_BROKEN)
    before = {g.id: app_state(g) for g in slab.guests}
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=540)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None
        events = [(e.step_id, e.event) for e in store.events(run.id)]
    for guest in slab.guests:
        after = app_state(guest)
        assert after["app_version"] == APP_INITIAL, (guest.id, after)
        assert after["health"] == "ok"
        assert after["boot_id"] == before[guest.id]["boot_id"], "the snapshot's boot, running"
        steps = [s for s, e in events if guest.id in s and e == "succeeded"]
        assert any(s.endswith("-snapshot") for s in steps), steps
        assert any("/rollback/" in s and s.endswith("-snapshot_revert") for s in steps), steps
    assert snapshots_left(slab) == {g.id: [] for g in slab.guests}, "none leaked"


@pytest.mark.timeout(600)
def test_a_good_patch_stays_and_its_snapshots_are_deleted_after_the_soak(
    slab: LibvirtLab, tmp_path: Path
) -> None:
    env, inventory, campaign = prepare(slab, tmp_path, "1.0-2")
    boots = {g.id: app_state(g)["boot_id"] for g in slab.guests}
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=540)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for guest in slab.guests:
        after = app_state(guest)
        assert (after["app_version"], after["health"]) == ("1.0-2", "ok"), after
        assert after["boot_id"] == boots[guest.id], "patched in place, no reboot"
    assert snapshots_left(slab) == {g.id: [] for g in slab.guests}


def test_a_vm_its_hypervisor_cannot_snapshot_is_refused_before_anything_runs(
    slab: LibvirtLab, tmp_path: Path
) -> None:
    env, inventory, campaign = prepare(slab, tmp_path, "1.0-2")
    text = inventory.read_text()
    # The same inventory, with a VM the hypervisor does not run: libvirt cannot snapshot it.
    # (A disk in another format than qcow2 is refused the same way: ``disk_refusal``.)
    inventory.write_text(text.replace("snap-vm-2", "snap-vm-7"))
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real")
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "cannot snapshot snap-vm-7" in applied.stderr
    assert app_state(slab.guests[0])["app_version"] == APP_INITIAL, "nothing ran"
