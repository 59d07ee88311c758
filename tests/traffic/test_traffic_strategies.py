"""Strategies under load on real HAProxy, driven by the engine in-process: the cases the
command line's tests do not cover.

Rolling, blue-green and a bad canary are proven through ``patchwarden apply --real`` in
this folder's ``test_apply_real_*_cli.py``; twenty good canaries never rolled back, and the
request counts of every strategy, are ``make bench``'s (``bench/bench_traffic.py``, also
through the command line). Here: a canary slow but not failing, and all hosts at once for
contrast. 40 keep-alive clients send requests without pause meanwhile.
"""

from __future__ import annotations

from patchwarden.engine.machine import UnitState
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_scenarios import analyses, run_strategy


def test_slow_canary_is_not_promoted(traffic: TrafficLab) -> None:
    # 1.0-4 answers every page 120 ms later: latency alone is a non-critical metric, so the
    # verdict is marginal, which never promotes: the run holds the analysis for a person
    # (and a fail would roll the canary back). Either way nobody else gets the build.
    run = run_strategy(traffic, "canary", version="1.0-4", reboot=False, canary=1,
                       analysis_s=4.0, canary_only=True)  # fmt: skip
    (analysis,) = analyses(run.journal)
    latency = next(m for m in analysis["metrics"] if m["name"] == "latency_ms")
    assert latency["outcome"] == "fail"
    assert latency["canary_value"] > latency["baseline_value"] + 100
    assert analysis["verdict"] in ("marginal", "fail")
    if analysis["verdict"] == "marginal":
        assert run.progress.waiting and not run.progress.done  # held for a person
    else:
        assert run.rolled_back
    assert run.load.failed == 0


def test_all_at_once_for_contrast_fails_requests(traffic: TrafficLab) -> None:
    run = run_strategy(traffic, "all_at_once")
    assert run.progress.count(UnitState.SUCCEEDED) == 6
    assert run.load.failed > 100, "every server rebooting at once is an outage"
