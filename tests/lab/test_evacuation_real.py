"""Hypervisor evacuation for real, through the command line: three libvirtd, four guests.

``patchwarden feeds import``, ``scan`` and ``apply campaign.yaml --real`` run as processes of
their own. Each hypervisor is emptied by live migration (capacity and anti-affinity
honoured, patched hosts preferred), patched over SSH in its Debian root, restarted (its
root reboots and its libvirtd restarts), health-checked and taken out of maintenance,
while every guest's service is requested every 50 ms. A campaign whose hosts cannot be
emptied is refused before anything moves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from patchwarden.store import open_store
from patchwarden.testing.lab_evacuation import (
    GuestLoad,
    HypervisorLab,
    cli,
    migration_seconds,
    shared_hypervisor_lab,
)
from patchwarden.testing.lab_repo import INITIAL


@pytest.fixture(scope="module")
def hvlab() -> Iterator[HypervisorLab]:
    with shared_hypervisor_lab() as running:
        yield running


@pytest.mark.timeout(600)
def test_apply_real_evacuates_patches_and_restarts_each_hypervisor(
    hvlab: HypervisorLab, tmp_path: Path
) -> None:
    env, inventory, campaign = hvlab.prepare(tmp_path)
    boots = {g.id: hvlab.virt.guest_identity(g)["boot_id"] for g in hvlab.virt.guests}
    daemons = {h.id: hvlab.virt.daemon_pid(h.id) for h in hvlab.virt.hypervisors}
    load = GuestLoad(hvlab.guest_urls())
    load.start()
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=540)
    finally:
        report = load.stop()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        events = list(store.events(run.id))
    seconds = migration_seconds(events)
    assert len(seconds) >= 4, [(e.step_id, e.event) for e in events][:30]
    assert all(0 < s < 60 for s in seconds), seconds
    for spec in hvlab.roots.specs():
        assert hvlab.installed(spec.id, ["pw-web", "pw-kernel"]) == {
            "pw-web": "1.0-2", "pw-kernel": "1.0-2"}  # fmt: skip
    for hv in hvlab.virt.hypervisors:
        assert hvlab.virt.daemon_pid(hv.id) != daemons[hv.id], f"{hv.id}'s libvirtd restarted"
        assert not (hvlab.state_dir / f"{hv.id}.maintenance.json").exists() or not json.loads(
            (hvlab.state_dir / f"{hv.id}.maintenance.json").read_text())["on"]  # fmt: skip
    for guest in hvlab.virt.guests:
        assert hvlab.virt.guest_identity(guest)["boot_id"] == boots[guest.id], guest.id
    web = {hvlab.placements()["lab-vm-1"], hvlab.placements()["lab-vm-2"]}
    assert len(web) == 2, "anti-affinity: lab-vm-1 and lab-vm-2 never share a host"
    assert report.sent > 500
    assert report.failed == 0, report.errors


@pytest.mark.timeout(300)
def test_a_hypervisor_that_cannot_be_emptied_is_refused_before_anything_moves(
    hvlab: HypervisorLab, tmp_path: Path
) -> None:
    env, inventory, campaign = hvlab.prepare(tmp_path, memory_gb=2, vcpus=1)
    before = hvlab.placements()
    daemons = {h.id: hvlab.virt.daemon_pid(h.id) for h in hvlab.virt.hypervisors}
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real")
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "cannot evacuate lab-vm-" in applied.stderr
    assert "no other hypervisor" in applied.stderr
    assert hvlab.placements() == before, "nothing moved"
    assert not list(hvlab.state_dir.glob("*.json")), "no host was fenced"
    assert {h.id: hvlab.virt.daemon_pid(h.id) for h in hvlab.virt.hypervisors} == daemons
    for spec in hvlab.roots.specs():
        assert hvlab.installed(spec.id, ["pw-web"]) == {"pw-web": INITIAL["pw-web"]}


def test_inventory_discover_writes_the_hypervisors_and_their_guests(
    hvlab: HypervisorLab, tmp_path: Path
) -> None:
    hvlab.put_back()
    uris = [h.uri for h in hvlab.virt.hypervisors]
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}"}
    done = cli(env, "inventory", "discover", "libvirt", *uris, "--env", "dev")
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    kinds = {a["id"]: a["kind"] for a in data["assets"]}
    assert kinds == {**{h.id: "hypervisor" for h in hvlab.virt.hypervisors},
                     **{g.id: "vm" for g in hvlab.virt.guests}}  # fmt: skip
    by_id = {a["id"]: a for a in data["assets"]}
    for guest in hvlab.virt.guests:
        assert by_id[guest.id]["hypervisor"] == guest.hypervisor
    for hv in hvlab.virt.hypervisors:
        assert by_id[hv.id]["driver_config"] == {"uri": hv.uri}
        assert by_id[hv.id]["tags"]["libvirt_host_uuid"] == hv.host_uuid
    written = tmp_path / "discovered.yaml"
    written.write_text(done.stdout)
    assert cli(env, "inventory", "validate", str(written)).returncode == 0
    bad = cli(env, "inventory", "discover", "libvirt", "not a uri")
    assert bad.returncode == 2 and "not a libvirt URI" in bad.stderr
