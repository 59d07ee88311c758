"""The virtual appliance HA pair, from inventory to report, through the command line.

Two HAProxy appliances in network namespaces hold one virtual IP under keepalived VRRP
(:mod:`patchwarden.testing.lab_appliance`). A person validates the inventory, plans the
firmware campaign, submits the change, has a colleague approve it, and runs
``patchwarden apply --real``: the standby (lb-b) is flashed while lb-a serves, the VIP fails
over to lb-b, then lb-a is flashed, and with the group's ``fail_back`` the VIP goes back to
lb-a. 24 clients send requests to the virtual IP the whole
time; a GET that fails is sent again once, as a client of an idempotent request would, and
both counts are reported. ``patchwarden status`` reads the run back.

Nothing is simulated: real keepalived, real HAProxy, real VRRP on a bridge.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchwarden.testing.lab_appliance import AppliancePair
from patchwarden.testing.traffic_cli import cli, journal, kill_apply_when, submit_and_approve
from patchwarden.testing.traffic_cli_more import HA_PAIR_CAMPAIGN, ha_pair_files
from patchwarden.testing.traffic_load import LoadProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("keepalived") is None, reason="needs keepalived (scripts/lab-packages.txt)"
    ),
]


@pytest.fixture
def pair() -> Iterator[AppliancePair]:
    appliances = AppliancePair()
    appliances.up()
    try:
        yield appliances
    finally:
        appliances.down()


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.timeout(120)
def test_ha_pair_from_plan_to_report_through_the_cli(pair: AppliancePair, tmp_path: Path) -> None:
    env, inventory, campaign = ha_pair_files(pair, tmp_path)
    inv, cmp = str(inventory), str(campaign)

    _ok(cli(env, "inventory", "validate", inv))
    plan = json.loads(_ok(cli(env, "plan", cmp, "-i", inv, "--format", "json")))
    steps = [
        (s["target"], s["params"]["action"])
        for wave in plan["waves"]
        for batch in wave["batches"]
        for unit in batch["units"]
        for s in unit["steps"]
    ]
    # The standby first (its peer kept active), then the other after the fail-over, then
    # the address back to the member that served first.
    assert steps == [
        ("lb-b", "failover"), ("lb-b", "firmware"), ("lb-b", "health"),
        ("lb-a", "failover"), ("lb-a", "firmware"), ("lb-a", "health"), ("lb-a", "failover"),
    ], steps  # fmt: skip

    # prod needs an approved change: refused before it, by the requester, then approved.
    refused = cli(env, "apply", cmp, "-i", inv, "--real")
    assert refused.returncode == 2 and "has no change record" in refused.stderr, refused.stderr
    assert "CHG-1" in _ok(cli(env, "change", "submit", cmp, "-i", inv, "--as", "alice"))
    waiting = cli(env, "apply", cmp, "-i", inv, "--real")
    assert waiting.returncode == 2, waiting.stdout + waiting.stderr
    own = cli(env, "change", "approve", "1", "--as", "alice")
    assert own.returncode == 2, own.stdout + own.stderr
    assert "approved" in _ok(cli(env, "change", "approve", "1", "--as", "bob"))
    assert pair.holder() == "lb-a"

    load = LoadProcess(pair.config.vip, pair.config.port, concurrency=24, retries=1)
    load.start()
    try:
        applied = cli(env, "apply", cmp, "-i", inv, "--real", timeout=90)
    finally:
        report = load.stop()
    out = _ok(applied)
    assert "CHG-1 approved by bob" in out, out

    state, records = journal(env)
    assert state == "completed", state
    failovers = [r.payload["active"] for r in records
                 if r.step_id.endswith("-failover") and r.event == "succeeded"]  # fmt: skip
    assert failovers == ["lb-a", "lb-b", "lb-a"], failovers
    flashed = {r.payload["firmware"] for r in records
               if r.step_id.endswith("-firmware") and r.event == "succeeded"}  # fmt: skip
    assert flashed == {"2.6-2"}
    assert pair.holder() == "lb-a", "fail_back: the VIP is back on the member that served first"
    assert pair.serving_release(0) == "lb-a release 2.6-2"
    assert pair.serving_release(1) == "lb-b release 2.6-2"

    status = json.loads(_ok(cli(env, "status", "--format", "json")))
    assert status["state"] == "completed", status
    print(
        f"ha_pair via apply --real: {report.requests} requests through the VIP, "
        f"{report.failed} failed after one retry, {report.retried} raw failures retried "
        f"({report.causes() or 'none left'})"
    )
    assert report.requests > 500
    assert report.failed == 0, report.causes()
    # Each of the two moves resets the connections open on the old member: bounded by the
    # clients, twice.
    assert report.retried <= 4 * load.concurrency, report.retried


def _keepalived_runs(pair: AppliancePair, index: int) -> bool:
    pid_file = pair.config.base / pair.config.ids[index] / "keepalived.pid"
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@pytest.mark.timeout(180)
def test_kill_9_during_the_failover_then_resume_flashes_each_member_once(
    pair: AppliancePair, tmp_path: Path
) -> None:
    without_fail_back = HA_PAIR_CAMPAIGN.replace(", fail_back: true", "")
    env, inventory, campaign = ha_pair_files(pair, tmp_path, without_fail_back)
    inv, cmp = str(inventory), str(campaign)
    submit_and_approve(env, campaign, inventory)

    def failing_over(records: list[Any]) -> bool:
        # The fail-over from lb-a to lb-b, once the standby lb-b has been flashed.
        return any("/lb-a/" in r.step_id and r.step_id.endswith("-failover")
                   and r.event == "started" for r in records)  # fmt: skip

    load = LoadProcess(pair.config.vip, pair.config.port, concurrency=24, retries=1)
    load.start()
    try:
        argv = ["apply", cmp, "-i", inv, "--real"]
        run_id = kill_apply_when(env, argv, failing_over, after_s=0.4, timeout_s=90)
        state, _ = journal(env, run_id)
        assert state == "running", state  # what kill -9 leaves behind
        resumed = cli(env, "resume", run_id, timeout=90)
    finally:
        report = load.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    state, records = journal(env, run_id)
    assert state == "completed", state
    flashed: dict[str, list[str]] = {}
    for r in records:
        if r.step_id.endswith("-firmware") and r.event == "succeeded":
            flashed.setdefault(r.step_id.split("/")[-2], []).append(r.payload["previous"])
    # Each member flashed exactly once, from the release it ran before.
    assert flashed == {"lb-a": ["2.6-1"], "lb-b": ["2.6-1"]}, flashed
    assert pair.holder() == "lb-b", "exactly one member holds the VIP: the one patched first"
    assert _keepalived_runs(pair, 0) and _keepalived_runs(pair, 1), "both keep a keepalived"
    assert pair.serving_release(0) == "lb-a release 2.6-2"
    assert pair.serving_release(1) == "lb-b release 2.6-2"
    print(
        f"ha_pair kill -9 in the fail-over, then resume: {report.requests} requests, "
        f"{report.failed} failed after one retry, {report.retried} raw failures retried"
    )
    assert report.failed == 0, report.causes()
