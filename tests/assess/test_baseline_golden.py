"""Golden scenarios for patch baselines: rules and lists in, approved set and states out.

Each ``tests/golden/baselines/<case>.yaml`` holds a baseline, advisories (shorthand, see
``test_decide_golden.advisory``), a moment, and optionally assets with pending reboots and
failed installs; ``<case>.expected.json`` holds the snapshot and every compliance state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_decide_golden import advisory, check_golden, load_case, when

from patchwarden.assess.baseline import (
    PatchBaseline,
    baseline_ecosystem,
    candidate_patches,
    take_snapshot,
)
from patchwarden.assess.compliance import check_compliance
from patchwarden.inventory import parse_inventory

CASES = Path(__file__).parents[1] / "golden" / "baselines"


def _run(case: dict[str, Any]) -> dict[str, Any]:
    baseline = PatchBaseline.model_validate(case["baseline"])
    advisories = [advisory(a, case.get("ecosystem", "Debian:12")) for a in case["advisories"]]
    snapshot = take_snapshot(baseline, advisories, when(case["now"]))
    out: dict[str, Any] = {
        "snapshot_id": snapshot.id,
        "approved": [
            f"{p.advisory_id} {p.package}={p.fixed} ({p.approved_by})" for p in snapshot.approved
        ],
        "rejected": [f"{p.advisory_id} {p.package}={p.fixed}" for p in snapshot.rejected],
    }
    if case.get("assets"):
        text = yaml.safe_dump({"assets": case["assets"]})
        inventory = parse_inventory([("case.yaml", text)]).inventory
        base = baseline_ecosystem(baseline.os_family)
        results = check_compliance(
            inventory,
            {base: snapshot},
            {a.id: a for a in advisories},
            candidates={base: candidate_patches(baseline.os_family, advisories)},
            pending_reboot=case.get("pending_reboot") or {},
            failed=case.get("failed") or {},
        )
        out["compliance"] = {
            r.asset_id: {
                "compliant": r.compliant,
                "states": [
                    f"{p.advisory_id} {p.package} {p.installed or '-'} -> {p.target}: {p.state.value}"
                    for p in r.patches
                ],
            }
            for r in results
        }
    return out


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_baseline_golden(path: Path) -> None:
    check_golden(path.with_suffix(".expected.json"), _run(load_case(path)))


def test_snapshot_id_is_the_same_for_the_same_approved_set() -> None:
    case = load_case(CASES / "approve-after-days.yaml")
    baseline = PatchBaseline.model_validate(case["baseline"])
    advisories = [advisory(a, "Debian:12") for a in case["advisories"]]
    a = take_snapshot(baseline, advisories, when("2026-11-20T00:00:00Z"))
    b = take_snapshot(baseline, list(reversed(advisories)), when("2026-11-20T09:00:00Z"))
    later = take_snapshot(baseline, advisories, when("2027-01-01T00:00:00Z"))
    assert a.id == b.id
    assert later.id != a.id  # a rule approved more patches since
