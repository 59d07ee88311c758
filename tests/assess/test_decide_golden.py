"""Golden scenarios: a small estate, one advisory, history and policy in; decisions out.

Two kinds:

* ``tests/golden/decisions/<case>.yaml`` holds the inputs and a comment saying what it
  shows; ``<case>.expected.json`` holds the exact decisions, reasons and dates, as the code
  made them when last reviewed (a snapshot: it catches change, not error). A missing
  expected file fails; ``PATCHWARDEN_UPDATE_GOLDEN=1`` writes them anew, to review.
* ``tests/golden/decisions-by-hand/<case>.yaml`` holds the inputs and an ``expect:`` list
  whose actions and dates were worked out by hand from the shipped policy
  (``src/patchwarden/assess/data/policy.yaml``), the working in the file's comment. They
  are an oracle independent of the code: no flag rewrites them.
"""

from __future__ import annotations

import json
import os
import sys
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
BY_HAND = Path(__file__).parents[1] / "golden" / "decisions-by-hand"
# Set PATCHWARDEN_UPDATE_GOLDEN=1 to write the expected files from what the code does now
# (new cases too); review the diff before committing it. Without it, a missing file fails.
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
    if UPDATE:
        expected_path.write_text(text, encoding="utf-8")
    if not expected_path.exists():
        pytest.fail(
            f"{expected_path.name} is missing: write it with PATCHWARDEN_UPDATE_GOLDEN=1"
            " and review what it says before committing it"
        )
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


def test_a_missing_expected_file_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "UPDATE", False)
    missing = tmp_path / "new-case.expected.json"
    with pytest.raises(pytest.fail.Exception, match="PATCHWARDEN_UPDATE_GOLDEN=1"):
        check_golden(missing, [{"action": "defer"}])
    assert not missing.exists()


# --- decided by hand -------------------------------------------------------------------

_EXPECTED_KEYS = {"asset", "advisory", "package", "action", "due", "review", "reason_contains"}


def _by_hand_cases() -> list[Path]:
    return sorted(BY_HAND.glob("*.yaml"))


@pytest.mark.parametrize("path", _by_hand_cases(), ids=lambda p: p.stem)
def test_decision_worked_out_by_hand(path: Path) -> None:
    case = load_case(path)
    expected = case.get("expect")
    assert expected, f"{path.name}: no expect: list"
    got = {(d["asset"], d["advisory"], d["package"]): d for d in _run(case)}
    wanted = {}
    for item in expected:
        assert set(item) <= _EXPECTED_KEYS, (
            f"{path.name}: unknown keys {set(item) - _EXPECTED_KEYS}"
        )
        wanted[(item["asset"], item["advisory"], item["package"])] = item
    # Every decision the code makes is one worked out by hand, and the other way round.
    assert sorted(got) == sorted(wanted), path.name
    for key, item in wanted.items():
        decision = got[key]
        assert decision["action"] == item["action"], (path.name, key, decision["reason"])
        due = item["due"]
        assert decision["due"] == (None if due is None else str(due)), (path.name, key)
        if "review" in item:
            review = item["review"]
            assert decision["review"] == (None if review is None else str(review)), (path.name, key)
        if "reason_contains" in item:
            assert item["reason_contains"] in decision["reason"], (path.name, key)


def test_cases_by_hand_cover_the_policy() -> None:
    cases = _by_hand_cases()
    assert len(cases) >= 15
    texts = " ".join(p.read_text(encoding="utf-8") for p in cases)
    # Each rule of the policy's spine and each weight the issue names has a case.
    for topic in (
        "kev: true",
        "epss:",
        "internet_facing: true",
        "criticality:",
        "null}",  # no fixed version
        "failures:",
        "hosting: saas",
        "cosmetic",
        "RHEA-",  # an enhancement
    ):
        assert topic in texts, topic
    actions = {item["action"] for p in cases for item in load_case(p)["expect"]}
    assert actions == {"emergency", "next_window", "defer", "ignore"}
