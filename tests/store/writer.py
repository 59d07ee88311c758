"""A second process for the concurrency tests: ``python writer.py URL WHAT NAME COUNT START``.

It waits until the wall clock reaches ``START`` (so all writers begin together), then does
``WHAT`` ``COUNT`` times on the store at ``URL``, and prints one JSON line of what it got.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

from patchwarden.store import open_store


def main(url: str, what: str, name: str, count: int, start: float) -> None:
    time.sleep(max(0.0, start - time.time()))
    with open_store(url) as store:  # migrates a fresh database: writers may race for that too
        got: list[object] = []
        for n in range(count):
            if what == "assessment":
                findings = [
                    {"asset_id": f"{name}-{k}", "package": "openssl", "advisory_id": name}
                    for k in range(50)
                ]
                got.append(store.record_assessment({"writer": name, "n": n}, findings))
            elif what == "audit":
                got.append(store.audit.append(name, "test.write", "writer", str(n)).seq)
            elif what == "journal":
                got.append(store.append_event(sys.argv[6], name, "tick", {"n": n}))
            elif what == "open":
                got.append(store.latest_run() is None)
            elif what == "lease":
                now = datetime.now(UTC)
                lease = store.take_lease(sys.argv[6], name, now, now + timedelta(minutes=5))
                got.append(lease.holder)
            else:
                raise SystemExit(f"unknown action {what!r}")
    print(json.dumps(got))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
