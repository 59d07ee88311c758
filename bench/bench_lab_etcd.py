"""Cluster rolling on a real etcd cluster, through ``patchwarden apply --real``.

Three etcd members (Debian's ``etcd-server``), each on a Debian root reached by SSH; the
campaign takes each member out of service (leadership moved away first if it leads, quorum
checked through etcd's API), patches and reboots its root (its etcd stops and starts with
it), and waits until it is healthy and caught up before the next, the leader last, while a
client writes and reads a key through the cluster. Records the members, writes sent and
failed (goal 0), fail-overs to another endpoint, and leader moves (goal 1).

Needs root (the lab). Writes the ``cluster_rolling`` row of bench-results/lab.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from patchwarden.store import open_store
from patchwarden.testing.lab_etcd import KeyLoad, shared_etcd_lab
from patchwarden.testing.lab_evacuation import cli


def main() -> int:
    """Run the campaign once, print the row, merge it into bench-results/lab.json."""
    if os.geteuid() != 0:
        print("bench_lab_etcd: cannot run: the lab needs root", file=sys.stderr)
        return 1
    with shared_etcd_lab() as lab, tempfile.TemporaryDirectory() as folder:
        env, inventory, campaign = lab.prepare(Path(folder))
        restarts = len(lab.restarts)
        load = KeyLoad([lab.endpoint(m) for m in lab.members])
        started = time.monotonic()
        load.start()
        try:
            applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=600)
        finally:
            report = load.stop()
        elapsed = time.monotonic() - started
        if applied.returncode != 0:
            print(applied.stdout + applied.stderr, file=sys.stderr)
            return 1
        with open_store(env["PATCHWARDEN_DB"]) as store:
            run = store.latest_run()
            assert run is not None
            events = list(store.events(run.id))
        moves = [
            e.payload
            for e in events
            if e.event == "succeeded" and "leadership_to" in (e.payload or {})
        ]
        row = {
            "members": len(lab.members),
            "writes_sent": report.sent,
            "writes_failed": report.failed,
            "endpoint_failovers": report.failovers,
            "leader_moves": len(moves),
            "member_restarts": len(lab.restarts) - restarts,
            "campaign_s": round(elapsed, 1),
        }
        lab.put_back()
    print(json.dumps({"cluster_rolling": row}, indent=2))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    path = out / "lab.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["cluster_rolling"] = row
    path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
