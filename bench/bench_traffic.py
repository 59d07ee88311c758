"""Strategies under load on real HAProxy, through ``patchwarden apply --real``.

Six lab hosts (30 ms pages) behind HAProxy with retries and redispatch; 40 keep-alive
clients send requests without pause while a user's command line rolls a patch out: the
inventory names the HAProxy (its admin socket, and where its request log arrives), the
campaign the strategy; ``feeds import``, ``scan`` and ``apply --real`` run as processes of
their own. The patch updates pw-web and the kernel package and reboots every host.

* ``rolling``: drain, wait for 0 sessions, patch, reboot, health, enable; one host at a time.
* ``blue_green``: patch the standby side, switch with one ``set map``, bake (health checks
  and the new side's error rate), patch the old side.
* ``canary_good`` / ``canary_bad``: one canary at weight 10, a 5 s analysis (Mann-Whitney U
  and effect size on HAProxy's per-request log), then the rest rolling; the bad build
  (pw-web 1.0-5) passes its health check but fails 30 % of pages.
* ``canary_good_repeat``: the good build's canary (weight 50, a 3 s analysis; no reboot
  and two hosts of the pool, to keep each short) rolled out 20 times in a row
  (``PATCHWARDEN_BENCH_CANARY_RUNS`` to change): a good build must never be rolled back.
  ``runs``, ``rolled_back`` (how many were), each analysis' verdict and score.
* ``all_at_once``: every host at once, for contrast.
* ``image_rebuild``: the six hosts are instances of one rootfs image; a new version is built
  with the fixed pw-web (apt in a chroot), tested, and every host re-created from it behind
  HAProxy, one at a time.
* ``ha_pair``: the keepalived pair of HAProxy appliances (network namespaces on a bridge)
  flashed standby first, failed over, the other flashed, the address failed back; the
  change submitted by one person and approved by another first; 24 clients on the virtual
  IP resend a failed GET once (``failed_raw`` before that retry, ``failed`` after).

Writes bench-results/traffic.json (the keys of the harness-driven table it replaced:
requests, failed, p99_ms, seconds, and rolled_back for canaries; ``finished`` per case).
Each rollout must have ended as its case expects (the run ``completed``; for
``canary_bad``, the canary rolled back and the run ended) before its failed requests
count: a rollout that stopped early would lose few requests for the wrong reason. A case
that did not finish is named and the bench exits 1; so it does when it cannot run at all
(not root).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from patchwarden.engine.lifecycle import RunState
from patchwarden.testing.lab_appliance import AppliancePair
from patchwarden.testing.traffic import TrafficLab, shared_traffic_lab
from patchwarden.testing.traffic_cli import CliTrafficRun, run_cli_strategy
from patchwarden.testing.traffic_cli_more import (
    run_cli_ha_pair,
    run_cli_image_rebuild,
    traffic_image,
)

CASES: dict[str, dict[str, Any]] = {
    "rolling": {"strategy": "rolling", "max_unavailable": 1},
    "blue_green": {"strategy": "blue_green", "bake_s": 9.0},
    "canary_good": {"strategy": "canary", "canary": 1, "analysis_s": 5.0},
    "canary_bad": {"strategy": "canary", "canary": 1, "analysis_s": 5.0, "version": "1.0-5"},
    "all_at_once": {"strategy": "all_at_once"},
}

ROLLS_BACK = frozenset({"canary_bad"})
CANARY_RUNS = int(os.environ.get("PATCHWARDEN_BENCH_CANARY_RUNS", "20"))


def unfinished(name: str, run: CliTrafficRun) -> str | None:
    """Why a case's rollout did not end as the case expects, or ``None`` when it did."""
    ended = RunState(run.state).ended if run.state in set(RunState) else False
    if not ended:
        return f"{name}: the rollout did not end (run {run.state}, exit {run.exit_code})"
    if name in ROLLS_BACK:
        if not run.rolled_back:
            return f"{name}: expected the canary rolled back (run {run.state})"
        return None
    if run.state != RunState.COMPLETED or run.exit_code != 0:
        return f"{name}: expected the run completed (run {run.state}, exit {run.exit_code})"
    return None


def repeat_good_canary(traffic: TrafficLab, scratch: Path, problems: list[str]) -> dict[str, Any]:
    """The good build's canary rolled out :data:`CANARY_RUNS` times; none may roll back."""
    rows: list[dict[str, Any]] = []
    verdicts: list[str] = []
    scores: list[float] = []
    rolled_back = unfinished_runs = 0
    for i in range(CANARY_RUNS):
        # Two hosts of the pool (the canary, then one more) keep each rollout short; the
        # analysis compares the canary with every other server of the pool all the same.
        run = run_cli_strategy(traffic, scratch / f"canary_good_{i}", "canary", reboot=False,
                               select={"role": "web", "ids": traffic.hosts[:2]}, canary=1,
                               canary_weight=50, analysis_s=3.0)  # fmt: skip
        rows.append(run.summary())
        verdicts += [a["verdict"] for a in run.analyses()]
        scores += [round(float(a["score"]), 3) for a in run.analyses()]
        problem = unfinished("canary_good", run)
        if problem:
            unfinished_runs += 1
            rolled_back += int(run.rolled_back)
            problems.append(f"canary_good_repeat run {i + 1}: {problem.split(': ', 1)[1]}")
    return {
        "runs": CANARY_RUNS,
        "rolled_back": rolled_back,
        "requests": sum(r["requests"] for r in rows),
        "failed": sum(r["failed"] for r in rows),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "verdicts": verdicts,
        "scores": scores,
        "finished": unfinished_runs == 0,
    }


def main() -> int:
    """Run every case, print the table, write the JSON; 1 if a case did not finish."""
    if os.geteuid() != 0:
        print("bench_traffic: cannot run: the lab needs root", file=sys.stderr)
        return 1
    problems: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    verdicts: dict[str, str] = {}
    with shared_traffic_lab() as traffic, tempfile.TemporaryDirectory() as scratch:
        for name, case in CASES.items():
            params = dict(case)
            run = run_cli_strategy(traffic, Path(scratch) / name, params.pop("strategy"), **params)
            results[name] = run.summary()
            problem = unfinished(name, run)
            results[name]["finished"] = problem is None
            if problem:
                problems.append(problem)
            verdicts[name] = ", ".join(a["verdict"] for a in run.analyses())
        results["canary_good_repeat"] = repeat_good_canary(traffic, Path(scratch), problems)
        verdicts["canary_good_repeat"] = ""
        traffic.reset()
        with traffic_image(traffic) as store:
            image = run_cli_image_rebuild(traffic, store, Path(scratch) / "image_rebuild")
        results["image_rebuild"] = image.summary()
        problem = unfinished("image_rebuild", image)
        results["image_rebuild"]["finished"] = problem is None
        problems += [problem] if problem else []
        pair = AppliancePair()
        pair.up()
        try:
            ha = run_cli_ha_pair(pair, Path(scratch) / "ha_pair")
        finally:
            pair.down()
        results["ha_pair"] = ha.summary()
        results["ha_pair"]["finished"] = ha.state == RunState.COMPLETED and ha.exit_code == 0
        if not results["ha_pair"]["finished"]:
            problems.append(f"ha_pair: expected the run completed (run {ha.state}, "
                            f"exit {ha.exit_code})")  # fmt: skip
    print(f"{'strategy':<13} {'requests':>9} {'failed':>7} {'p99 ms':>7} {'seconds':>8}  notes")
    for name, row in results.items():
        notes = f"rolled back: {row['rolled_back']}, verdict: {verdicts[name]}" if (
            "rolled_back" in row) else ""  # fmt: skip
        if "runs" in row:
            notes = f"{row['rolled_back']} of {row['runs']} good canaries rolled back"
        if "failed_raw" in row:
            notes = f"{row['failed_raw']} failed before one retry"
        p99 = f"{row['p99_ms']:>7.1f}" if "p99_ms" in row else f"{'-':>7}"
        print(f"{name:<13} {row['requests']:>9} {row['failed']:>7} {p99} "
              f"{row['seconds']:>8.1f}  {notes}")  # fmt: skip
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "traffic.json").write_text(json.dumps(results, indent=2) + "\n")
    for problem in problems:
        print(f"bench_traffic: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
