"""Firmware the vendors' CSAF advisories find in baseline compliance, beside package gaps.

The advisories are the real samples of tests/data/csaf (the Cisco IOS document and its
revision with a fixed release derived in ``csaf_samples``, and an OASIS VEX sample with
ranges and a vendor fix for storage controllers). The CLI test imports them through
``feeds import`` and reads ``baseline check`` as a person would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from csaf_samples import CISCO, DATA, cisco_with_fix
from patchwarden.assess.compliance import VENDOR_ADVISORIES, PatchState
from patchwarden.cli.main import main
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.inventory import Inventory
from patchwarden.feeds.csaf import parse_csaf
from patchwarden.service.baselines import check_baselines
from patchwarden.service.policy import default_baselines

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
EDGE = {"id": "edge-sw-1", "kind": "virtual_appliance", "env": "prod", "function": "firewall",
        "vendor": "Cisco", "product": "IOS", "firmware": "15.0(2)SE4",
        "service_model": "on_prem"}  # fmt: skip
SAN = {"id": "san-1", "kind": "storage_system", "env": "prod", "vendor": "Example Company",
       "service_model": "on_prem", "parts": [
           {"id": "ctrl-a", "type": "controller", "firmware": "3.0", "redundancy_group": "c",
            "product": "ABC"},
           {"id": "ctrl-b", "type": "controller", "firmware": "4.2", "redundancy_group": "c",
            "product": "ABC"}]}  # fmt: skip
VEX = DATA / "vex" / "2022-evd-uc-06-001.json"


def _inventory() -> Inventory:
    return Inventory.model_validate({"assets": [
        EDGE, {**EDGE, "id": "edge-sw-3", "firmware": "15.2(2)E8"},
        {**EDGE, "id": "edge-saas", "service_model": "saas"}, SAN,
    ]})  # fmt: skip


def _advisories(*docs: tuple[dict[str, object], str]) -> dict[str, Advisory]:
    parsed = [parse_csaf(doc, name) for doc, name in docs]
    return {a.id: a for a in parsed}


def _rows(advisories: dict[str, Advisory], **kw: object) -> dict[str, list[tuple[str, ...]]]:
    check = check_baselines(_inventory(), advisories, default_baselines(), NOW, **kw)  # type: ignore[arg-type]  # kw are check_baselines' own
    return {
        asset: [(p.package, p.installed, p.target, p.state.value) for p in result.patches]
        for asset, result in check.results.items()
    }


def test_a_vendor_fix_is_a_missing_firmware_patch_with_the_fix_as_target() -> None:
    advisories = _advisories(
        (cisco_with_fix(), "cisco-3.1.0.json"), (json.loads(VEX.read_text()), VEX.name)
    )
    check = check_baselines(_inventory(), advisories, default_baselines(), NOW)
    edge = check.results["edge-sw-1"]
    assert [(p.advisory_id, p.package, p.installed, p.target, p.state) for p in edge.patches] == [
        ("cisco-sa-20180328-smi2", "firmware", "15.0(2)SE4", "15.2(2)E8", PatchState.MISSING)
    ]
    assert not edge.compliant and edge.baseline == VENDOR_ADVISORIES
    # The appliance that runs the fixed release matches no longer: nothing missing.
    assert check.results["edge-sw-3"].patches == () and check.results["edge-sw-3"].compliant
    # The provider patches a SaaS appliance: its row says so and does not count against us.
    saas = check.results["edge-saas"]
    assert [p.state for p in saas.patches] == [PatchState.PROVIDER_RESPONSIBILITY]
    assert saas.compliant
    # Storage: ctrl-a 3.0 is in the vendor's affected range with fix 4.2; ctrl-b runs 4.2.
    san = check.results["san-1"]
    assert [(p.package, p.installed, p.target, p.state) for p in san.patches] == [
        ("firmware:ctrl-a", "3.0", "4.2", PatchState.MISSING)
    ]


def test_no_vendor_fix_yet_is_no_patch_to_install() -> None:
    rows = _rows(_advisories((json.loads(CISCO.read_text()), CISCO.name)))
    # The published Cisco document has a workaround only: a finding (deferred), no patch.
    assert rows["edge-sw-1"] == []


def test_a_failed_flash_is_failed_on_the_part_it_targeted() -> None:
    advisories = _advisories(
        (cisco_with_fix(), "cisco-3.1.0.json"), (json.loads(VEX.read_text()), VEX.name)
    )
    rows = _rows(advisories, failed={"ctrl-a": {"firmware"}, "edge-sw-1": {"firmware"}})
    assert rows["san-1"] == [("firmware:ctrl-a", "3.0", "4.2", "failed")]
    assert rows["edge-sw-1"] == [("firmware", "15.0(2)SE4", "15.2(2)E8", "failed")]


def test_baseline_check_lists_firmware_gaps_after_a_csaf_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revision = tmp_path / "cisco-3.1.0.json"
    revision.write_text(json.dumps(cisco_with_fix()))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"assets": [EDGE, SAN]}))
    assert main(["feeds", "import", str(revision), str(VEX)]) == 0
    capsys.readouterr()
    code = main(["baseline", "check", "-i", str(inventory), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    body = {r["asset_id"]: r for r in json.loads(out)}
    assert body["edge-sw-1"]["compliant"] is False
    assert body["edge-sw-1"]["baseline"] == VENDOR_ADVISORIES
    [patch] = body["edge-sw-1"]["patches"]
    assert (patch["package"], patch["target"], patch["state"]) == (
        "firmware",
        "15.2(2)E8",
        "missing",
    )
    assert [(p["package"], p["target"]) for p in body["san-1"]["patches"]] == [
        ("firmware:ctrl-a", "4.2")
    ]
    assert "0 of 2 assets compliant" in err
    # The table form, as a person reads it.
    code = main(["baseline", "check", "-i", str(inventory)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "edge-sw-1" in out and "1 missing" in out and VENDOR_ADVISORIES in out


def test_the_report_lists_firmware_gaps_with_package_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revision = tmp_path / "cisco-3.1.0.json"
    revision.write_text(json.dumps(cisco_with_fix()))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"assets": [EDGE, SAN]}))
    assert main(["feeds", "import", str(revision), str(VEX)]) == 0
    assert main(["assess", "-i", str(inventory)]) == 0
    out = tmp_path / "report"
    assert main(["report", "--json", str(out / "r.json"), "--html", str(out / "r.html")]) == 0
    capsys.readouterr()
    body = json.loads((out / "r.json").read_text())
    states = {
        a["asset_id"]: [(p["package"], p["target"], p["state"]) for p in a["patch_states"]]
        for a in body["assets"]
    }
    assert states == {
        "edge-sw-1": [("firmware", "15.2(2)E8", "missing")],
        "san-1": [("firmware:ctrl-a", "4.2", "missing")],
    }
    assert body["patch_states"]["missing"] == 2
    html = (out / "r.html").read_text()
    assert "<td>firmware:ctrl-a</td>" in html and "<code>15.2(2)E8</code>" in html
