"""Hypervisor evacuation on real libvirt, through ``patchwarden apply --real``.

Three lab hypervisors (each its own libvirtd, paired with a Debian root reached by SSH) and
four running guests; the campaign evacuates, patches, restarts and health-checks each
hypervisor in turn while every guest's service is requested every 50 ms. Records the
hypervisors, guests, migrations, seconds per migration (median, max, from the run's
journal) and guest requests sent and failed.

Needs root (the lab). Writes the ``evacuation`` row of bench-results/lab.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from patchwarden.store import open_store
from patchwarden.testing.lab_evacuation import (
    GuestLoad,
    cli,
    migration_seconds,
    shared_hypervisor_lab,
)


def main() -> int:
    """Run the campaign once, print the row, merge it into bench-results/lab.json."""
    if os.geteuid() != 0:
        print("bench_lab_hypervisors: cannot run: the lab needs root", file=sys.stderr)
        return 1
    with shared_hypervisor_lab() as lab, tempfile.TemporaryDirectory() as folder:
        env, inventory, campaign = lab.prepare(Path(folder))
        load = GuestLoad(lab.guest_urls())
        started = time.monotonic()
        load.start()
        try:
            applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=900)
        finally:
            report = load.stop()
        elapsed = time.monotonic() - started
        if applied.returncode != 0:
            print(applied.stdout + applied.stderr, file=sys.stderr)
            return 1
        with open_store(env["PATCHWARDEN_DB"]) as store:
            run = store.latest_run()
            assert run is not None
            seconds = migration_seconds(list(store.events(run.id)))
        row = {
            "hypervisors": len(lab.virt.hypervisors),
            "guests": len(lab.virt.guests),
            "migrations": len(seconds),
            "migration_s_median": round(statistics.median(seconds), 2),
            "migration_s_max": round(max(seconds), 2),
            "requests_sent": report.sent,
            "requests_failed": report.failed,
            "campaign_s": round(elapsed, 1),
            "libvirtd_restarts": len(lab.restarts),
        }
        lab.put_back()
    print(json.dumps({"evacuation": row}, indent=2))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    path = out / "lab.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["evacuation"] = row
    path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
