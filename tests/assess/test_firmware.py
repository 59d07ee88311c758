"""Appliances and storage parts matched against the real CSAF samples, decided, and planned.

Golden cases: the Cisco IOS advisory on an appliance (no vendor fix in the published
document, so the finding waits; its derived revision with a fixed release makes that release
the planned firmware), the OASIS VEX samples' ranges and vendor fixes on appliances and
storage controllers, and a vendor's ``known_not_affected`` silencing a package finding.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from csaf_samples import CISCO, DATA, cisco_with_fix
from patchwarden.assess.assessment import assess
from patchwarden.assess.firmware import match_firmware
from patchwarden.domain.advisories import Action, Advisory
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.feeds.csaf import parse_csaf
from patchwarden.feeds.osv import parse_osv
from patchwarden.planning.plan import plan_campaign

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def csaf(*names: str) -> list[Advisory]:
    out = []
    for name in names:
        path = next(DATA.glob(f"*/{name}"))
        out.append(parse_csaf(json.loads(path.read_text()), name))
    return out


def inventory(*assets: dict[str, Any]) -> Inventory:
    return Inventory.model_validate({"assets": assets})


EDGE = {"id": "edge-sw-1", "kind": "virtual_appliance", "env": "prod", "function": "firewall",
        "vendor": "Cisco", "product": "IOS", "firmware": "15.0(2)SE4", "internet_facing": True,
        "service_model": "on_prem"}  # fmt: skip
SAN = {"id": "san-1", "kind": "storage_system", "env": "prod", "vendor": "Example Company",
       "service_model": "on_prem", "parts": [
           {"id": "ctrl-a", "type": "controller", "firmware": "3.0", "redundancy_group": "c",
            "product": "ABC"},
           {"id": "ctrl-b", "type": "controller", "firmware": "4.2", "redundancy_group": "c",
            "product": "ABC"},
           {"id": "sw-a", "type": "san_switch", "firmware": "2.5", "redundancy_group": "s",
            "product": "ABC"}]}  # fmt: skip
CAMPAIGN = Campaign.model_validate({
    "name": "vendor firmware",
    "groups": {"appliances": {"select": {"kind": "virtual_appliance"}, "strategy": "ha_pair"},
               "storage": {"select": {"kind": "storage_system"}, "strategy": "redundant_path"}},
})  # fmt: skip


def firmware_steps(inv: Inventory, advisories: list[Advisory]) -> list[tuple[str, str]]:
    done = assess(inv, advisories, NOW)
    plan = plan_campaign(inv, CAMPAIGN, done.decisions, {a.id: a for a in advisories},
                         done.fixes, NOW)  # fmt: skip
    return [
        (s.target, s.params.version)  # type: ignore[union-attr]  # firmware steps only
        for w in plan.waves for b in w.batches for u in b.units for s in u.steps
        if s.params.action == "firmware" and not s.params.undo  # type: ignore[union-attr]  # firmware steps only
    ]  # fmt: skip


def test_cisco_advisory_matches_the_appliance_and_waits_for_a_fix() -> None:
    inv = inventory(EDGE)
    (finding,) = match_firmware(inv, csaf(CISCO.name)).findings
    assert (finding.asset_id, finding.advisory_id, finding.package) == (
        "edge-sw-1", "cisco-sa-20180328-smi2", "firmware")  # fmt: skip
    assert (finding.installed, finding.aliases, finding.cvss_score) == (
        "15.0(2)SE4", ("CVE-2018-0171",), 9.8)  # fmt: skip
    assert finding.no_fix and finding.fixed == ""
    (decision,) = assess(inv, csaf(CISCO.name), NOW).decisions
    assert decision.action is Action.DEFER
    assert "no fixed version published yet" in decision.reason
    assert firmware_steps(inv, csaf(CISCO.name)) == []  # nothing to flash yet


def test_cisco_revision_with_a_vendor_fix_is_the_planned_firmware() -> None:
    inv = inventory(EDGE, {**EDGE, "id": "edge-sw-2", "firmware": "12.2(55)SE"},
                    {**EDGE, "id": "edge-sw-3", "firmware": "15.2(2)E8"})  # fmt: skip
    advisories = [parse_csaf(cisco_with_fix(), "cisco-3.1.0.json")]
    found = {f.asset_id: f.fixed for f in match_firmware(inv, advisories).findings}
    assert found == {"edge-sw-1": "15.2(2)E8", "edge-sw-2": "15.2(2)E8"}  # sw-3 runs the fix
    decisions = {d.asset_id: d.action for d in assess(inv, advisories, NOW).decisions}
    assert decisions == {"edge-sw-1": Action.EMERGENCY, "edge-sw-2": Action.EMERGENCY}
    assert firmware_steps(inv, advisories) == [("edge-sw-1", "15.2(2)E8"),
                                               ("edge-sw-2", "15.2(2)E8")]  # fmt: skip


def test_storage_parts_by_range_exact_version_and_not_affected() -> None:
    inv = inventory(SAN)
    advisories = csaf("2022-evd-uc-06-001.json")
    found = {(f.package, f.installed, f.fixed) for f in match_firmware(inv, advisories).findings}
    # ctrl-a 3.0 lies in >=2.9|<=4.1 (univers): affected, vendor fix 4.2. ctrl-b runs 4.2 and
    # sw-a 2.5, both listed known_not_affected: no finding.
    assert found == {("firmware:ctrl-a", "3.0", "4.2")}
    assert firmware_steps(inv, advisories) == [("ctrl-a", "4.2")]


def test_fix_is_the_recommended_version_fixing_every_cve() -> None:
    jkl = {"id": "jkl-1", "kind": "virtual_appliance", "env": "prod", "function": "ids",
           "vendor": "example company", "product": "jkl", "firmware": "4.7",
           "service_model": "on_prem"}  # fmt: skip
    inv = inventory(jkl, {**jkl, "id": "jkl-2", "firmware": "5.1"})
    advisories = csaf("2022-evd-uc-08-001.json")
    found = {f.asset_id: (f.aliases, f.fixed) for f in match_firmware(inv, advisories).findings}
    # 5.1 fixes CVE-2021-44228 but is affected by CVE-2021-45105: 5.2 is the target of both.
    assert found == {"jkl-1": (("CVE-2021-44228",), "5.2"), "jkl-2": (("CVE-2021-45105",), "5.2")}


def test_vendor_not_affected_statement_silences_a_package_finding() -> None:
    # A package finding on an appliance whose scan lists log4j-core. The OSV record is the
    # real GHSA-jfh8-c2jp-5v3q cut to the fields matching reads (its id, alias and range).
    osv = parse_osv({
        "id": "GHSA-jfh8-c2jp-5v3q", "aliases": ["CVE-2021-44228"],
        "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Maven",
                                  "name": "org.apache.logging.log4j:log4j-core"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]}]}],
    })  # fmt: skip
    box = {
        "id": "secvisogram-1",
        "kind": "virtual_appliance",
        "env": "prod",
        "function": "waf",
        "vendor": "Secvisogram",
        "product": "Secvisogram",
        "firmware": "1.12.0",
        "ecosystem": "Maven",
        "packages": {"org.apache.logging.log4j:log4j-core": "2.14.1"},
    }
    other = {**box, "id": "secvisogram-2", "firmware": "1.15.0"}  # above the VEX range
    inv = inventory(box, other)
    done = assess(inv, [osv, *csaf("sec-vex-2022-0001.json")], NOW)
    by_asset = {d.asset_id: d for d in done.decisions}
    assert by_asset["secvisogram-1"].action is Action.IGNORE
    assert by_asset["secvisogram-1"].reason.startswith(
        "CVE-2021-44228 not affected per SEC-VEX-2022-0001: component not present; "
        "Secvisogram is written in JavaScript."
    )
    assert by_asset["secvisogram-2"].action is not Action.IGNORE
