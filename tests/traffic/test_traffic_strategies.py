"""Strategies under load on real HAProxy: what users see while patchwarden patches.

Every host's patch updates pw-web and the kernel package and reboots the host, so each
server really goes away; 40 keep-alive clients send requests without pause meanwhile.
"""

from __future__ import annotations

from patchwarden.domain.plan import StepAction
from patchwarden.engine.machine import UnitState
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_scenarios import analyses, canary_share, run_strategy


def test_rolling_loses_no_request_out_of_ten_thousand(traffic: TrafficLab) -> None:
    run = run_strategy(traffic, "rolling", max_unavailable=1)
    assert run.progress.count(UnitState.SUCCEEDED) == 6, run.progress.units
    assert run.load.requests >= 10_000
    assert run.load.failed == 0, run.load.causes()
    actions = [s.action for s in run.plan.units()[0].steps]
    assert actions[:2] == [StepAction.DRAIN, StepAction.WAIT_DRAINED]
    assert actions[-1] is StepAction.ENABLE


def test_blue_green_switches_without_losing_a_request(traffic: TrafficLab) -> None:
    run = run_strategy(traffic, "blue_green", bake_s=9.0)
    assert run.progress.done and not run.progress.stopped
    assert run.progress.count(UnitState.SUCCEEDED) == 7, run.progress.units
    assert run.load.requests >= 10_000
    assert run.load.failed == 0, run.load.causes()
    assert traffic.loop.run(traffic.driver(blue_green=True).active_side("web")) == "blue"


def test_flaky_canary_is_caught_by_analysis_and_rolled_back(traffic: TrafficLab) -> None:
    # 1.0-5 passes its health check but fails 30 % of real pages: only traffic shows it.
    run = run_strategy(traffic, "canary", version="1.0-5", canary=1, analysis_s=5.0)
    (analysis,) = analyses(run.journal)
    assert analysis["verdict"] == "fail"
    errors = next(m for m in analysis["metrics"] if m["name"] == "error_rate")
    assert errors["outcome"] == "fail" and errors["canary_value"] > 0.2
    assert run.rolled_back
    assert run.progress.count(UnitState.SKIPPED) == 5, "the rest of the pool is never touched"
    versions = traffic.loop.run(traffic.real.packages.installed("lab-01", ["pw-web"]))
    assert versions == {"pw-web": "1.0-1"}, "the canary is back on the old build"
    assert 0 < run.load.failed <= canary_share(run, 6) * run.load.requests, run.load.causes()


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


def test_good_patch_is_never_rolled_back_over_twenty_canary_runs(traffic: TrafficLab) -> None:
    verdicts = []
    for _ in range(20):
        run = run_strategy(traffic, "canary", reboot=False, canary=1, canary_weight=50,
                           analysis_s=1.5, canary_only=True, concurrency=32)  # fmt: skip
        verdicts += [a["verdict"] for a in analyses(run.journal)]
        assert not run.rolled_back, analyses(run.journal)
        assert run.load.failed == 0, run.load.causes()
    assert verdicts == ["pass"] * 20


def test_all_at_once_for_contrast_fails_requests(traffic: TrafficLab) -> None:
    run = run_strategy(traffic, "all_at_once")
    assert run.progress.count(UnitState.SUCCEEDED) == 6
    assert run.load.failed > 100, "every server rebooting at once is an outage"
