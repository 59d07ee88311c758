"""Scanning the lab's real hosts over SSH, then assessing what the scan found.

The lab's hosts are Debian 12 chroots behind their own sshd; ``pw-web 1.0-1`` is what they
run at first and ``1.0-2`` its security fix. An OSV record in the Debian format (as
osv.dev publishes DSA records) says ``pw-web`` is fixed in ``1.0-2``: hosts scanned at
``1.0-1`` must come out exposed, a host patched to ``1.0-2`` must not, whatever the
inventory declares.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.cli.main import main
from patchwarden.drivers.real import RealDrivers
from patchwarden.inventory import read_inventory
from patchwarden.service.feeds import import_paths, stored_advisories
from patchwarden.service.scan import host_transport, latest_scans, scan_assets, scanned_inventory
from patchwarden.service.scheduler import SCHEDULER, Scheduler, load_schedule
from patchwarden.store import open_store, resolve_url
from patchwarden.store.audit import AuditFilter
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread

# Debian's OSV layout (osv.dev's DSA/DLA records): source package, Debian:12, one range.
PW_WEB_DSA = {
    "schema_version": "1.6.0",
    "id": "DSA-9901-1",
    "summary": "pw-web - security update",
    "details": "A flaw in pw-web allowed remote attackers to read arbitrary files.\n\n"
    "For the stable distribution (bookworm), this problem has been fixed in version 1.0-2.",
    "aliases": ["CVE-2026-49001"],
    "modified": "2026-11-20T08:14:11Z",
    "published": "2026-11-19T00:00:00Z",
    "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2026/dsa-9901"}],
    "affected": [
        {
            "package": {
                "ecosystem": "Debian:12",
                "name": "pw-web",
                "purl": "pkg:deb/debian/pw-web?arch=source",
            },
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
            "versions": ["1.0-1"],
            "database_specific": {
                "source": "https://storage.googleapis.com/debian-osv/dsa-osv/DSA-9901-1.json"
            },
        }
    ],
}


@pytest.fixture
def patched(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> Iterator[None]:
    """lab-03 patched to pw-web 1.0-2; lab-02 given pw-kernel 1.0-2 (asks for a reboot)."""
    reset("lab-01", "lab-02", "lab-03", "lab-04")
    loop.run(real.packages.install("lab-03", {"pw-web": "1.0-2"}))
    loop.run(real.packages.install("lab-02", {"pw-kernel": "1.0-2"}))
    try:
        yield
    finally:
        reset("lab-02", "lab-03")
        loop.run(real.power.reboot("lab-02", 30))  # clears /run/reboot-required for others


def test_scan_over_ssh_then_assess_finds_what_the_hosts_run(
    lab: Lab,
    patched: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATCHWARDEN_SSH_KEY", str(lab.key_path))
    monkeypatch.setenv("PATCHWARDEN_SSH_KNOWN_HOSTS", str(lab.known_hosts))
    record = tmp_path / "DSA-9901-1.json"
    record.write_text(json.dumps(PW_WEB_DSA))
    assert main(["feeds", "import", str(record)]) == 0
    capsys.readouterr()

    assert main(["scan", "-i", str(lab.inventory_path), "--format", "json"]) == 0
    rows = {r["asset_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"lab-01", "lab-02", "lab-03", "lab-04"}
    for row in rows.values():
        assert row["ok"] and row["source"] == "ssh" and row["ecosystem"] == "Debian:12"
        assert row["os"] == "debian 12" and row["packages"] > 80 and row["arch"]
    assert rows["lab-02"]["reboot_required"] is True and rows["lab-02"]["reboot_packages"] == [
        "pw-kernel"
    ]
    assert rows["lab-01"]["reboot_required"] is False

    inventory = read_inventory([lab.inventory_path]).inventory
    assert all(not a.packages for a in inventory.assets), "the lab inventory declares nothing"
    with open_store(resolve_url(None, os.environ)) as store:
        scanned, used = scanned_inventory(inventory, latest_scans(store))
        advisories = stored_advisories(store)
    assert {a.id for a in advisories} == {"DSA-9901-1"}
    result = assess(scanned, advisories, datetime.now(UTC))
    found = sorted((f.asset_id, f.package, f.installed, f.fixed) for f in result.findings)
    assert found == [
        ("lab-01", "pw-web", "1.0-1", "1.0-2"),
        ("lab-02", "pw-web", "1.0-1", "1.0-2"),
        ("lab-04", "pw-web", "1.0-1", "1.0-2"),
    ], "lab-03 was patched: the scan, not the inventory, decides"
    assert {f.aliases for f in result.findings} == {("CVE-2026-49001",)}
    assert set(used) == {"lab-01", "lab-02", "lab-03", "lab-04"}


def test_an_untrusted_host_key_is_a_failed_scan_not_a_connection(
    lab: Lab, loop: LoopThread, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inventory = read_inventory([lab.inventory_path]).inventory
    transport = host_transport(inventory, lab.ssh_config(known_hosts=empty))

    async def scan():
        try:
            return await scan_assets([inventory.get("lab-01")], transport, {}, timeout_s=30)
        finally:
            await transport.close()

    (result,) = loop.run(scan())
    assert not result.ok and "not trusted" in result.error


def test_the_scheduler_scans_the_lab_group_over_ssh_then_assesses(
    lab: Lab, patched: None, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'scheduled.db'}"
    config = load_schedule(
        "jobs.yaml",
        f"jobs:\n  lab-web: {{kind: scan, every: 1h, group: web, environment: {lab.config.env}}}\n",
    )
    now = datetime.now(UTC)
    with open_store(db) as store:
        record = tmp_path / "DSA-9901-1.json"
        record.write_text(json.dumps(PW_WEB_DSA))
        import_paths(store, [record])
        scheduler = Scheduler(
            store, config, "lab-test", lambda *_: None, lambda: now,
            inventory=(str(lab.inventory_path),), ssh=lab.ssh_config(),
        )  # fmt: skip
        scheduler.register()
        assert scheduler.tick() == ["lab-web"]
        (job,) = store.jobs()
        assert job.last_status == "ok", job.last_error
        scans = {s.asset_id: s for s in store.latest_scans(ok_only=False)}
        trail = store.audit.entries(AuditFilter(actor=SCHEDULER.name))
        latest = store.latest_assessment()
    assert set(scans) == {"lab-01", "lab-02", "lab-03", "lab-04"}
    assert all(s.ok and s.source == "ssh" for s in scans.values())
    assert [e.action for e in trail] == ["scan.record", "inventory.replace", "assessment.record"]
    assert latest is not None and latest.summary["findings"] == 3, "lab-03 runs the fix"
