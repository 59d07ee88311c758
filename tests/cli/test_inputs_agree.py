"""plan, apply, change submit, promote and assess choose their inputs by one rule."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.service.apply import plan_from_files, prepare_plan
from patchwarden.service.inputs import Origin, estate_inputs
from patchwarden.service.scan import HostScan, record_scans
from patchwarden.service.sources import demo_advisories
from patchwarden.store import open_store

ROOT = Path(__file__).parents[2]
CAMPAIGN = ROOT / "tests/golden/plans/demo-windows.yaml"
INVENTORY = ROOT / "src/patchwarden/drivers/sim/data/demo-inventory.yaml"
AT = "2026-11-24T22:00Z"
T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.fixture
def db() -> str:
    """The test's store with the demo catalog imported and one host scanned."""
    url = os.environ["PATCHWARDEN_DB"]
    with open_store(url) as store:
        store.upsert_advisories(
            (a.id, a.modified, a.withdrawn, a.model_dump(mode="json")) for a in demo_advisories()
        )
        scan = HostScan(
            asset_id="web-dev-01",
            source="ssh",
            at=T,
            ecosystem="Debian:12",
            packages={"openssl": "3.0.11-1~deb12u2", "nginx": "1.22.1-10"},
            os_release={"ID": "debian", "VERSION_ID": "12"},
        )
        record_scans(store, [scan])
    return url


def test_every_command_plans_the_same_plan(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with open_store(db) as store:
        built, _ = plan_from_files(store, CAMPAIGN, [INVENTORY], [], T)
        applied = prepare_plan(store, CAMPAIGN, [INVENTORY], T)
        assessed = estate_inputs(store, [INVENTORY], own_estate=True)
    digest = built.plan.digest()
    assert applied.plan.digest() == digest  # apply
    assert assessed.inventory == built.inventory  # assess sees the estate the plan patches
    assert built.inventory.get("web-dev-01").packages["nginx"] == "1.22.1-10"  # the scan won
    assert main(["plan", str(CAMPAIGN), "-i", str(INVENTORY), "--at", AT, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["campaign"] == built.plan.campaign
    code = main(["change", "submit", str(CAMPAIGN), "-i", str(INVENTORY), "--at", AT, "--as", "al"])
    assert code == 0, capsys.readouterr().err
    with open_store(db) as store:
        (change,) = store.changes()
    assert change.plan_hash == digest  # change submit pins the plan `plan` shows


def test_without_files_the_stored_inventory_serves_every_command(db: str) -> None:
    assert main(["assess", "-i", str(INVENTORY), "--format", "json"]) == 0  # stores it
    with open_store(db) as store:
        assessed = estate_inputs(store, own_estate=True)
        built, _ = plan_from_files(store, CAMPAIGN, [], [], T)
        applied = prepare_plan(store, CAMPAIGN, [], T)
    assert assessed.origin is Origin.STORED
    assert built.inventory == assessed.inventory
    assert applied.plan.digest() == built.plan.digest()
