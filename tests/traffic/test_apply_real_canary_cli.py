"""Canary analysis in real runs: request samples from HAProxy's own log, through the CLI.

The inventory names where HAProxy's request log arrives (``metrics: {log: ...}`` under the
pool); the change is submitted and approved by a second person, then ``patchwarden apply
--real`` receives it while its canary serves, compares canary
with baseline and promotes or rolls back, while 40 clients keep sending requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import dsa, journal, prepare

from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import apply_approved, run_status
from patchwarden.testing.traffic_load import LoadProcess

CAMPAIGN = """\
name: web canary behind haproxy
groups:
  web: {select: {role: web}, strategy: canary, canary: 1, canary_weight: 50,
        analysis_s: 8, then: rolling, max_unavailable: 1}
"""


def _analyses(records: list[Any]) -> list[dict[str, Any]]:
    return [dict(r.payload["analysis"]) for r in records
            if r.event == "observed" and "analysis" in (r.payload or {})]  # fmt: skip


def _versions(traffic: TrafficLab) -> dict[str, str]:
    assert traffic.real is not None
    return {
        h: traffic.loop.run(traffic.real.packages.installed(h, ["pw-web"]))["pw-web"]
        for h in traffic.hosts
    }


def _apply_under_load(traffic: TrafficLab, env: dict[str, str], *files: Path) -> Any:
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        inventory, campaign = files
        applied = apply_approved(env, campaign, inventory, timeout=360)
    finally:
        report = load.stop()
    return applied, report


@pytest.mark.timeout(420)
def test_a_good_canary_is_judged_on_haproxy_log_and_promoted(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    env, inventory, campaign = prepare(traffic, tmp_path, CAMPAIGN, [dsa(9902, "pw-web")])
    applied, report = _apply_under_load(traffic, env, inventory, campaign)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    state, records = journal(env)
    assert state == "completed"
    assert run_status(env)["state"] == "completed"
    (analysis,) = _analyses(records)
    assert analysis["verdict"] == "pass", analysis
    errors = next(m for m in analysis["metrics"] if m["name"] == "error_rate")
    assert errors["canary_n"] >= 20 and errors["baseline_n"] >= 100, errors
    assert _versions(traffic) == dict.fromkeys(traffic.hosts, "1.0-2")
    driver = traffic.driver()
    for host in traffic.hosts:
        assert traffic.loop.run(driver.state("web", host)) == "ready"
    print(f"good canary via apply --real: {report.requests} requests, {report.failed} failed, "
          f"canary n={errors['canary_n']} baseline n={errors['baseline_n']}")  # fmt: skip
    assert report.failed == 0, report.causes()
    traffic.reset()


@pytest.mark.timeout(420)
def test_a_canary_serving_5xx_is_caught_and_rolled_back(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    # 1.0-5 passes its health check but answers 30 % of pages with a 5xx.
    advisories = [dsa(9905, "pw-web", fixed="1.0-5")]
    env, inventory, campaign = prepare(traffic, tmp_path, CAMPAIGN, advisories)
    applied, report = _apply_under_load(traffic, env, inventory, campaign)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    state, records = journal(env)
    # The canary's unit rolled back, the rest of the pool skipped: not a completed run.
    assert state == "completed_with_failures", state
    assert run_status(env)["state"] == state
    undone = [r.step_id for r in records if "/rollback/" in r.step_id and r.event == "succeeded"]
    assert any(s.endswith("-restore") for s in undone), undone
    assert not [r for r in records if "/rollback/" in r.step_id and r.event == "failed"]
    (analysis,) = _analyses(records)
    assert analysis["verdict"] == "fail", analysis
    errors = next(m for m in analysis["metrics"] if m["name"] == "error_rate")
    assert errors["outcome"] == "fail" and errors["canary_value"] > 0.15, errors
    assert _versions(traffic) == dict.fromkeys(traffic.hosts, "1.0-1"), "canary restored"
    patched = {r.step_id.split("/")[1] for r in records
               if r.event == "started" and r.step_id.endswith("-patch")}  # fmt: skip
    assert len(patched) == 1, f"only the canary was ever patched: {patched}"
    # The canary served at weight 50 of 50 + 5 x 100 while it was out.
    share = 50 / 550
    print(f"bad canary via apply --real: {report.requests} requests, {report.failed} failed "
          f"(canary error rate {errors['canary_value']})")  # fmt: skip
    assert 0 < report.failed <= share * report.requests, report.causes()
    traffic.reset()
