"""Start-up of the command line: ``patchwarden --version`` and ``--help`` against ``python``.

Each is a fresh process, timed 10 times; the medians go to bench-results/cli.json as
version_seconds, help_seconds and python_seconds (``python -c pass`` in the same run: the
floor no command line can beat on this machine). Target: ≤ 0.3 s for each command; the
bench exits 1 when one misses it or a command fails, and says which.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 10
TARGET_S = 0.3
OUT = Path("bench-results") / "cli.json"


def median_seconds(argv: list[str]) -> float:
    """The median wall time of ``argv`` over RUNS fresh processes; fails if one fails."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return statistics.median(times)


def main() -> int:
    python = [sys.executable]
    # The installed `patchwarden` script, as people run it; else the module.
    script = Path(sys.executable).with_name("patchwarden")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "patchwarden"]
    result: dict[str, object] = {
        "python_seconds": round(median_seconds([*python, "-c", "pass"]), 4),
        "version_seconds": round(median_seconds([*cli, "--version"]), 4),
        "help_seconds": round(median_seconds([*cli, "--help"]), 4),
        "runs": RUNS,
        "target_seconds": TARGET_S,
        "command": Path(cli[0]).name if len(cli) == 1 else "python -m patchwarden",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    timed = {k: float(str(result[k])) for k in ("version_seconds", "help_seconds")}
    missed = {k: v for k, v in timed.items() if v > TARGET_S}
    for key, value in missed.items():
        print(f"MISSED: {key} {value:.3f} s > {TARGET_S} s", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
