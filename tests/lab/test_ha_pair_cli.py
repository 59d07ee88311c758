"""The virtual appliance HA pair, from inventory to report, through the command line.

Two HAProxy appliances in network namespaces hold one virtual IP under keepalived VRRP
(:mod:`patchwarden.testing.lab_appliance`). A person validates the inventory, plans the
firmware campaign, submits the change, has a colleague approve it, and runs
``patchwarden apply --real``: the standby (lb-b) is flashed while lb-a serves, the VIP fails
over to lb-b, then lb-a is flashed. 24 clients send requests to the virtual IP the whole
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

import pytest
import yaml

from patchwarden.testing.lab_appliance import AppliancePair
from patchwarden.testing.traffic_cli import cli, journal
from patchwarden.testing.traffic_load import LoadProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("keepalived") is None, reason="needs keepalived (scripts/lab-packages.txt)"
    ),
]

CAMPAIGN = """\
name: appliance firmware 2.6-2
groups:
  appliances: {select: {kind: virtual_appliance}, strategy: ha_pair}
firmware:
  - {select: {kind: virtual_appliance}, version: "2.6-2"}
"""


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
    inventory, campaign = tmp_path / "inventory.yaml", tmp_path / "campaign.yaml"
    inventory.write_text(yaml.safe_dump({"assets": pair.assets()}, sort_keys=False))
    campaign.write_text(CAMPAIGN)
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}", "COLUMNS": "160"}
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
    # The standby first (its peer kept active), then the other after the fail-over.
    assert steps == [
        ("lb-b", "failover"), ("lb-b", "firmware"), ("lb-b", "health"),
        ("lb-a", "failover"), ("lb-a", "firmware"), ("lb-a", "health"),
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
    assert failovers == ["lb-a", "lb-b"], failovers
    flashed = {r.payload["firmware"] for r in records
               if r.step_id.endswith("-firmware") and r.event == "succeeded"}  # fmt: skip
    assert flashed == {"2.6-2"}
    assert pair.holder() == "lb-b", "the VIP moved to the member patched first"
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
    # A fail-over resets the connections open on the old member: bounded by the clients.
    assert report.retried <= 2 * load.concurrency, report.retried
