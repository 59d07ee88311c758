"""Change and run state changes made through service/ land in the audit trail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.service.audit import verify_trail
from patchwarden.store import open_store, resolve_url

CAMPAIGN = str(Path(__file__).parents[1] / "golden" / "plans" / "demo-windows.yaml")
AT = "2026-11-24T22:00Z"


def test_change_submit_and_approve_are_chained_with_the_plan_hash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["change", "submit", CAMPAIGN, "--at", AT, "--as", "alice"]) == 0
    assert main(["change", "approve", "1", "--as", "alice"]) == 2  # refused: nothing audited
    assert main(["change", "approve", "1", "--as", "bob"]) == 0
    capsys.readouterr()
    assert main(["audit", "show", "--action", "change.", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["actor"], e["action"], e["details"]["state"]) for e in entries] == [
        ("alice", "change.submit", "submitted"),
        ("bob", "change.approve", "approved"),
    ]
    assert (
        entries[0]["object_hash"] == entries[1]["object_hash"]
        and len(entries[0]["object_hash"]) == 64
    )
    assert {e["source"] for e in entries} == {"cli"}


@pytest.mark.slow
def test_a_simulated_apply_audits_run_start_and_finish(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["apply", CAMPAIGN]) in (0, 1)
    with open_store(resolve_url(None, os.environ)) as store:
        actions = [e.action for e in store.audit.entries()]
        assert actions[0] == "run.start" and actions[-1] in ("run.finish", "run.stop")
        run_id = store.audit.entries()[0].object_id
        assert store.get_run(run_id) is not None
        assert verify_trail(store).entries == len(actions)


ADVISORIES = (
    Path(__file__).parents[2] / "src" / "patchwarden" / "drivers" / "sim" / "data" / "advisories"
)


def actions(store_url: str) -> list[tuple[str, str]]:
    with open_store(store_url) as store:
        return [(e.action, e.object_id) for e in store.audit.entries()]


def test_feed_imports_assessments_and_inventories_are_audited_once_per_change(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "erin")
    url = resolve_url(None, os.environ)
    assert main(["feeds", "import", str(ADVISORIES)]) == 0
    assert main(["feeds", "import", str(ADVISORIES)]) == 0  # nothing new: nothing audited
    assert actions(url) == [("feeds.import", "advisories")]
    assert main(["assess", "--demo", "--format", "json"]) == 0
    trail = actions(url)
    assert ("inventory.replace", "current") in trail and ("assessment.record", "1") in trail
    with open_store(url) as store:
        entry = store.audit.entries()[-1]
        assert entry.actor == "erin" and entry.source.startswith("local ")
        verify_trail(store)


def test_recorded_scans_are_audited(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from patchwarden.service.scan import HostScan, record_scans

    monkeypatch.setenv("USER", "erin")
    url = resolve_url(None, os.environ)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with open_store(url) as store:
        ids = record_scans(
            store,
            [
                HostScan("web-1", "ssh", at, packages={"curl": "1"}),
                HostScan("web-2", "ssh", at, ok=False),
            ],
        )
        (entry,) = store.audit.entries()
    assert entry.action == "scan.record" and entry.object_id == f"{ids[0]}-{ids[1]}"
    assert entry.details == {"scans": 2, "assets": 2, "failed": ["web-2"]}
