"""plan and apply compile from the same inputs: stored scans and the imported catalog."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from patchwarden.service.inputs import estate_inputs
from patchwarden.service.scan import HostScan, record_scans
from patchwarden.store import open_store

OSV = {
    "id": "TEST-1",
    "modified": "2026-11-20T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "pw-web"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
        }
    ],
}


def test_scanned_packages_and_stored_advisories_drive_the_plan(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "assets:\n  - {id: web-1, kind: vm, env: dev, os: {family: debian, release: '12'}}\n"
    )
    advisory = tmp_path / "osv.json"
    advisory.write_text(json.dumps(OSV))
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        declared = estate_inputs(store, [inventory], [advisory]).inventory
        assert declared.get("web-1").packages == {}  # nothing declared, nothing scanned yet
        scan = HostScan(
            asset_id="web-1",
            source="ssh",
            at=datetime(2026, 11, 26, tzinfo=UTC),
            ecosystem="Debian:12",
            packages={"pw-web": "1.0-1"},
            os_release={"ID": "debian", "VERSION_ID": "12"},
        )
        record_scans(store, [scan])
        inputs = estate_inputs(store, [inventory], [advisory])
    scanned, advisories, warnings = inputs.inventory, inputs.advisories, inputs.warnings
    assert scanned.get("web-1").packages == {"pw-web": "1.0-1"}
    assert [a.id for a in advisories] == ["TEST-1"] and warnings == ()
