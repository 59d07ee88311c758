"""Golden scenarios: a small estate, one advisory, history and policy in; decisions out.

Each ``tests/golden/decisions/<case>.yaml`` holds the inputs and a comment saying what it
shows; ``<case>.expected.json`` holds the exact decisions, reasons and dates.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwarden.assess.assessment import assess
from patchwarden.assess.policy import Policy
from patchwarden.domain.advisories import Advisory
from patchwarden.inventory import parse_inventory

CASES = Path(__file__).parents[1] / "golden" / "decisions"
# Set PATCHWARDEN_UPDATE_GOLDEN=1 to rewrite the expected files from what the code does now;
# review the diff before committing it.
UPDATE = os.environ.get("PATCHWARDEN_UPDATE_GOLDEN") == "1"


def load_case(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def advisory(raw: dict[str, Any], ecosystem: str) -> Advisory:
    """An advisory from shorthand: ``fix: {package: fixed version or null}``."""
    body = dict(raw)
    fixes = body.pop("fix", {})
    eco = body.pop("ecosystem", ecosystem)
    body.setdefault("modified", "2026-11-01T00:00:00Z")
    affected = []
    for package, fixed in fixes.items():
        events: list[dict[str, str]] = [{"introduced": "0"}]
        if fixed:
            events.append({"fixed": str(fixed)})
        affected.append(
            {
                "ecosystem": eco,
                "package": package,
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        )
    body["affected"] = affected
    return Advisory.model_validate(body)


def check_golden(expected_path: Path, actual: Any) -> None:
    text = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    if UPDATE or not expected_path.exists():
        expected_path.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(expected_path.read_text(encoding="utf-8"))


def _run(case: dict[str, Any]) -> list[dict[str, Any]]:
    inventory_text = yaml.safe_dump(
        {
            "environments": case.get("environments", ["dev", "qa", "staging", "prod"]),
            "assets": case["assets"],
        }
    )
    inventory = parse_inventory([("case.yaml", inventory_text)]).inventory
    ecosystem = case.get("ecosystem", "Debian:12")
    advisories = [advisory(a, ecosystem) for a in case["advisories"]]
    failures = {
        tuple(key.split("/", 1)): envs for key, envs in (case.get("failures") or {}).items()
    }
    first_seen = {
        tuple(key.split("/")): when(at) for key, at in (case.get("first_seen") or {}).items()
    }
    result = assess(
        inventory,
        advisories,
        when(case["now"]),
        Policy.model_validate(case.get("policy") or {}),
        failures=failures,
        first_seen=first_seen,
    )
    return [
        {
            "asset": d.asset_id,
            "advisory": d.advisory_id,
            "package": d.package,
            "action": d.action.value,
            "reason": d.reason,
            "due": d.due.isoformat() if d.due else None,
            "review": d.review.isoformat() if d.review else None,
            "risk": d.risk,
            "patch_risk": d.patch_risk,
            "classification": d.classification,
        }
        for d in result.decisions
    ]


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_decision_golden(path: Path) -> None:
    check_golden(path.with_suffix(".expected.json"), _run(load_case(path)))


def test_there_are_golden_cases() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 12
