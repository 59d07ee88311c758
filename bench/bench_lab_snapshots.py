"""VM snapshots as the way back, on real libvirt, through ``patchwarden apply --real``.

The snapshot lab (one libvirtd, two guests with qcow2 disks): a campaign installs a bad
version of the guests' application; each guest is snapshotted (disk and memory) first, its
health check fails, and the rollback reverts the snapshot and deletes it. Records the VMs,
seconds per snapshot and per revert (median, max, from the run's journal) and whether any
snapshot was left.

Needs root (the lab). Writes the ``snapshots`` row of bench-results/lab.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from patchwarden.drivers.libvirt import LibvirtHost, LibvirtHypervisors, LibvirtSettings
from patchwarden.store import open_store
from patchwarden.testing.lab_evacuation import cli
from patchwarden.testing.lab_libvirt import APP_BROKEN, APP_INITIAL, LibvirtLab
from patchwarden.testing.lab_snapshots import (
    SNAPSHOT_CAMPAIGN,
    app_state,
    install_app,
    shared_snapshot_lab,
    step_seconds,
    write_snapshot_inventory,
)


def _left(lab: LibvirtLab) -> int:
    async def count() -> int:
        driver = LibvirtHypervisors.of(
            LibvirtHost(hv.id, LibvirtSettings(uri=hv.uri)) for hv in lab.hypervisors
        )
        try:
            return sum([len(await driver.snapshots(g.id)) for g in lab.guests])
        finally:
            await driver.close()

    return asyncio.run(count())


def main() -> int:
    """Run the bad campaign once, print the row, merge it into bench-results/lab.json."""
    if os.geteuid() != 0:
        print("bench_lab_snapshots: cannot run: the lab needs root", file=sys.stderr)
        return 1
    with shared_snapshot_lab() as lab, tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for guest in lab.guests:
            install_app(guest, APP_INITIAL)
        boots = {g.id: app_state(g)["boot_id"] for g in lab.guests}
        inventory = write_snapshot_inventory(lab, folder / "inventory.yaml")
        campaign = folder / "campaign.yaml"
        campaign.write_text(SNAPSHOT_CAMPAIGN.format(version=APP_BROKEN, soak=3))
        env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{folder / 'pw.db'}"}
        started = time.monotonic()
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=900)
        elapsed = time.monotonic() - started
        if applied.returncode != 1:  # the bad version must fail and be rolled back
            print(applied.stdout + applied.stderr, file=sys.stderr)
            return 1
        with open_store(env["PATCHWARDEN_DB"]) as store:
            run = store.latest_run()
            assert run is not None
            events = list(store.events(run.id))
        taken, reverted = (
            step_seconds(events, "-snapshot"),
            step_seconds(events, "-snapshot_revert"),
        )
        states = {g.id: app_state(g) for g in lab.guests}
        row = {
            "vms": len(lab.guests),
            "snapshots": len(taken),
            "snapshot_s_median": round(statistics.median(taken), 2),
            "snapshot_s_max": round(max(taken), 2),
            "reverts": len(reverted),
            "revert_s_median": round(statistics.median(reverted), 2),
            "revert_s_max": round(max(reverted), 2),
            "reverted_to_old_version": sum(
                s["app_version"] == APP_INITIAL and s["health"] == "ok" for s in states.values()
            ),
            "same_boot_id": sum(states[g]["boot_id"] == b for g, b in boots.items()),
            "snapshots_left": _left(lab),
            "campaign_s": round(elapsed, 1),
        }
    print(json.dumps({"snapshots": row}, indent=2))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    path = out / "lab.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["snapshots"] = row
    path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
