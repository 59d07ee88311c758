"""Scanning assets: host families, SBOMs, bounded concurrency, timeouts, precedence."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.transport import LocalTransport
from patchwarden.feeds.osv import parse_osv
from patchwarden.inventory import parse_inventory
from patchwarden.service.scan import (
    STALE_AFTER,
    HostScan,
    age_text,
    effective_scan,
    latest_scans,
    read_sbom,
    record_scans,
    sbom_paths,
    scan_assets,
    scanned_inventory,
    stale,
)
from patchwarden.store import Store, open_store
from patchwarden.testing import Command, MockTransport, Reply

GOLDEN = Path(__file__).parents[1] / "golden"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

INVENTORY = """
environments: [dev, prod]
assets:
  - {id: deb-1, kind: vm, env: dev, ecosystem: "Debian:12", connection: {transport: ssh, address: 192.0.2.1}}
  - {id: rocky-1, kind: vm, env: dev, connection: {transport: ssh, address: 192.0.2.2}}
  - {id: alp-1, kind: vm, env: prod, roles: [edge], connection: {transport: ssh, address: 192.0.2.3}}
  - {id: slow-1, kind: vm, env: prod, connection: {transport: ssh, address: 192.0.2.4}}
  - {id: shop, kind: application, env: prod, ecosystem: npm, tags: {sbom: shop.cdx.json}}
  - {id: declared, kind: vm, env: prod, ecosystem: "Debian:12", packages: {pw-web: "1.0-1"}}
"""


def _inventory() -> Inventory:
    return parse_inventory([("inv.yaml", INVENTORY)]).inventory


def _golden(path: str) -> str:
    return str(json.loads((GOLDEN / path).read_text())["input"])


OS_RELEASE = {
    "deb-1": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "rocky-1": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
    "alp-1": "ID=alpine\nVERSION_ID=3.19.1\n",
    "slow-1": "ID=debian\nVERSION_ID=12\n",
}


def _answer(host: str, argv: tuple[str, ...]) -> Reply:
    """Recorded real output for each command a scan runs: the service's plumbing under test."""
    command = " ".join(argv)
    if argv[:2] == ("cat", "/etc/os-release"):
        return Reply(OS_RELEASE[host])
    if argv[0] == "dpkg-query":
        return Reply(_golden("apt/dpkg_query_bookworm_minbase.json"))
    if command == "dpkg --print-architecture":
        return Reply("amd64\n")
    if argv[0] == "sh":  # /run/reboot-required
        return Reply(_golden("apt/reboot_required_with_pkgs.json"))
    if argv[0] == "apt-mark":
        return Reply("")
    if argv[0] == "rpm":
        return Reply(_golden("rpm/rpm_query_rocky9_kernels_multilib.json"))
    if argv[0] == "needs-restarting":
        return Reply(_golden("rpm/needs_restarting_dnf_required.json"), exit_status=1)
    if command == "uname -m":
        return Reply("x86_64\n")
    if command == "apk info -v":
        return Reply(_golden("apk/apk_info_alpine319_base.json"))
    if command == "apk --print-arch":
        return Reply("x86_64\n")
    return Reply(exit_status=127)


def _replay(delay_s: float = 0.0, hang: Sequence[str] = ()) -> MockTransport:
    """Hosts that answer after ``delay_s``, except those in ``hang``, which never do."""

    async def handler(command: Command) -> Reply:
        await asyncio.sleep(3600 if command.host in hang else delay_s)
        return _answer(command.host, command.argv)

    return MockTransport(handler)


def _scan(transport: MockTransport, assets: list[AssetBase], **kw: object) -> list[HostScan]:
    return asyncio.run(scan_assets(assets, transport, {}, now=lambda: NOW, **kw))


def test_each_host_is_read_with_its_own_package_manager() -> None:
    inventory = _inventory()
    hosts = [inventory.get(h) for h in ("deb-1", "rocky-1", "alp-1")]
    deb, rocky, alp = _scan(_replay(), hosts)
    assert (deb.ok, deb.source, deb.ecosystem, deb.arch) == (True, "ssh", "Debian:12", "amd64")
    assert deb.reboot_required is True and "libc6" in deb.reboot_packages
    assert deb.os_name == "debian 12" and deb.origin == "192.0.2.1"
    assert (
        rocky.ecosystem == "Rocky Linux:9" and rocky.packages["kernel"] == "5.14.0-427.13.1.el9_4"
    )
    assert (rocky.reboot_required, rocky.reboot_packages) == (True, ("glibc", "kernel", "systemd"))
    assert alp.ecosystem == "Alpine:v3.19" and alp.packages["musl"] == "1.2.4_git20230717-r4"
    assert alp.reboot_required is None, "Alpine has no reboot marker: unknown, not 'no'"


def test_concurrency_is_bounded_and_a_hung_host_times_out_alone() -> None:
    inventory = _inventory()
    transport = _replay(delay_s=0.01, hang=["slow-1"])
    assets = [inventory.get(h) for h in ("deb-1", "rocky-1", "alp-1", "slow-1")]
    done: list[str] = []
    scans = _scan(
        transport, assets, max_parallel=2, timeout_s=0.5, on_done=lambda s: done.append(s.asset_id)
    )
    by_id = {s.asset_id: s for s in scans}
    assert [s.asset_id for s in scans] == ["deb-1", "rocky-1", "alp-1", "slow-1"], "asset order"
    assert not by_id["slow-1"].ok and "timed out" in by_id["slow-1"].error
    assert all(by_id[h].ok for h in ("deb-1", "rocky-1", "alp-1"))
    assert transport.most_in_flight <= 2
    assert transport.disconnected == ["slow-1"], "a timed-out host's connection is dropped"
    assert sorted(done) == sorted(by_id), "progress hears of every asset"


def test_a_local_scan_reads_this_machine_for_real() -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs a Debian-family machine")
    inventory = parse_inventory(
        [("i.yaml", "assets: [{id: here, kind: vm, env: dev, connection: {transport: local}}]")]
    ).inventory
    (scan,) = asyncio.run(scan_assets(inventory.assets, LocalTransport(), {}))
    assert scan.ok and scan.source == "local" and scan.packages["dpkg"]
    assert scan.ecosystem.startswith(("Debian:", "Ubuntu:")) and scan.arch


def test_sbom_uses_the_declared_ecosystem_and_the_oldest_bundled_copy(tmp_path: Path) -> None:
    sbom = tmp_path / "shop.cdx.json"
    sbom.write_text(
        json.dumps(
            json.loads((GOLDEN / "sbom/syft_container_mixed_ecosystems.json").read_text())["input"]
        )
    )
    scan = read_sbom(_inventory().get("shop"), sbom, NOW)
    assert scan.ok and scan.ecosystem == "npm"
    assert scan.packages == {
        "express": "4.17.1",
        "qs": "6.7.0",
        "@angular/core": "16.2.0",
        "lodash": "4.17.20",
    }
    assert "lodash: 2 versions; assessed 4.17.20" in scan.notes
    assert "not assessed: 2 PyPI package(s)" in scan.notes
    assert any("left-pad: no version" in n for n in scan.notes)
    assert "urn:uuid:3e671687" in scan.origin


def test_a_missing_or_broken_sbom_is_a_failed_scan_not_a_crash(tmp_path: Path) -> None:
    shop = _inventory().get("shop")
    assert "No such file" in read_sbom(shop, tmp_path / "nope.json", NOW).error
    (tmp_path / "x.json").write_text('{"bomFormat": "SPDX"}')
    assert "not a CycloneDX" in read_sbom(shop, tmp_path / "x.json", NOW).error


def test_sbom_options_win_over_tags() -> None:
    inventory = _inventory()
    assert sbom_paths(inventory.assets, {}) == {"shop": Path("shop.cdx.json")}
    assert sbom_paths(inventory.assets, {"shop": Path("b.json")}) == {"shop": Path("b.json")}


def _host(asset: str, source: str, minutes_ago: int, ecosystem: str, **packages: str) -> HostScan:
    return HostScan(
        asset, source, NOW - timedelta(minutes=minutes_ago), ecosystem=ecosystem, packages=packages
    )


def test_precedence_live_host_over_sbom_and_only_of_the_assets_ecosystem() -> None:
    inventory = _inventory()
    ssh = _host("shop", "ssh", 60, "Debian:12", openssl="3.0.11-1~deb12u2")
    bom = _host("shop", "sbom", 1, "npm", lodash="4.17.20")
    # shop declares npm: the host's Debian packages are not its packages, the SBOM's are
    assert effective_scan(inventory.get("shop"), {"ssh": ssh, "sbom": bom}) is bom
    # deb-1 declares Debian:12: a live scan beats even a newer SBOM
    deb_ssh = _host("deb-1", "ssh", 60, "Debian:12", a="1")
    deb_bom = _host("deb-1", "sbom", 1, "Debian:12", a="2")
    assert effective_scan(inventory.get("deb-1"), {"ssh": deb_ssh, "sbom": deb_bom}) is deb_ssh
    failed = HostScan("deb-1", "ssh", NOW, ok=False, error="timed out")
    assert effective_scan(inventory.get("deb-1"), {"ssh": failed, "sbom": deb_bom}) is deb_bom


def test_stale_data_shows_its_age() -> None:
    old = _host("deb-1", "ssh", int(STALE_AFTER.total_seconds() // 60) + 1, "Debian:12")
    assert stale(old, NOW) and not stale(_host("deb-1", "ssh", 5, "Debian:12"), NOW)
    assert [age_text(timedelta(seconds=s)) for s in (5, 300, 7200, 200000)] == [
        "5s",
        "5m",
        "2h",
        "2d",
    ]


OSV_PW_WEB = {
    "id": "DSA-9999-1",
    "modified": "2026-11-01T00:00:00Z",
    "published": "2026-11-01T00:00:00Z",
    "aliases": ["CVE-2026-0001"],
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "pw-web"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
        }
    ],
}


def _advisories() -> list[Advisory]:
    return [parse_osv(OSV_PW_WEB)]


def test_the_assessment_uses_scanned_packages_instead_of_declared_ones(tmp_path: Path) -> None:
    inventory = _inventory()
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        record_scans(
            store,
            [
                HostScan(
                    "deb-1",
                    "ssh",
                    NOW,
                    ecosystem="Debian:12",
                    packages={"pw-web": "1.0-1"},
                    os_release={"ID": "debian", "VERSION_ID": "12"},
                ),
                # declared says 1.0-1 (exposed); the host says it is patched
                HostScan(
                    "declared", "ssh", NOW, ecosystem="Debian:12", packages={"pw-web": "1.0-2"}
                ),
                HostScan("deb-1", "ssh", NOW + timedelta(minutes=1), ok=False, error="unreachable"),
            ],
        )
        latest = latest_scans(store)
    before = assess(inventory, _advisories(), NOW)
    assert [f.asset_id for f in before.findings] == ["declared"]
    scanned, used = scanned_inventory(inventory, latest)
    after = assess(scanned, _advisories(), NOW)
    assert [(f.asset_id, f.installed, f.fixed) for f in after.findings] == [
        ("deb-1", "1.0-1", "1.0-2")
    ]
    assert set(used) == {"deb-1", "declared"} and used["deb-1"].ok
    assert scanned.get("deb-1").os is not None and scanned.get("deb-1").os.family == "debian"
    assert scanned.get("shop").packages == {}, "unscanned assets keep what they declare"


def test_stored_scans_round_trip(tmp_path: Path) -> None:
    scan = HostScan("rocky-1", "ssh", NOW, ecosystem="Rocky Linux:9", packages={"bash": "5.1.8-9.el9"},
                    os_release={"ID": "rocky"}, arch="x86_64", reboot_required=None,
                    reboot_packages=(), origin="192.0.2.2", notes=("n",))  # fmt: skip
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        record_scans(store, [scan])
        assert latest_scans(store)["rocky-1"]["ssh"] == scan
        assert isinstance(store, Store)


OSV_OPENSSL = {
    "id": "DSA-9999-1",
    "modified": "2026-11-01T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "3.0.20-1~deb12u1"}],
                }
            ],
        }
    ],
}


def test_source_packages_are_scanned_stored_and_matched(tmp_path: Path) -> None:
    # dpkg-query as Debian 12 prints it with the source fields (recorded real output).
    def answer(command: Command) -> Reply:
        if command.argv[0] == "dpkg-query":
            return Reply(_golden("apt/dpkg_query_sources_binnmu_epoch_bookworm.json"))
        return _answer(command.host, command.argv)

    async def handler(command: Command) -> Reply:
        return answer(command)

    inventory = _inventory()
    (deb,) = _scan(MockTransport(handler), [inventory.get("deb-1")])
    assert deb.sources["libssl3"] == ("openssl", "3.0.19-1~deb12u2")
    assert deb.sources["bash"] == ("bash", "5.2.15-2") and "openssl" not in deb.sources
    rocky_scan = _scan(_replay(), [inventory.get("rocky-1")])[0]
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        record_scans(store, [deb, rocky_scan])
        latest = latest_scans(store)
    assert latest["deb-1"]["ssh"] == deb, "sources survive the store"
    scanned, _ = scanned_inventory(inventory, latest)
    assert scanned.get("deb-1").package_sources["libssl3"] == ("openssl", "3.0.19-1~deb12u2")
    findings = assess(scanned, [parse_osv(OSV_OPENSSL)], NOW).findings
    assert [(f.package, f.installed, f.fixed, f.source, f.source_version) for f in findings] == [
        ("libssl3", "3.0.19-1~deb12u2", "3.0.20-1~deb12u1", "openssl", "3.0.19-1~deb12u2"),
        ("openssl", "3.0.19-1~deb12u2", "3.0.20-1~deb12u1", "", ""),
    ]
