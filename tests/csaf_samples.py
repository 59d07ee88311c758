"""The real CSAF samples in tests/data/csaf (see its README), shared by feed and assess tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

__all__ = ["CISCO", "DATA", "SAMPLES", "cisco_with_fix", "load"]

DATA = Path(__file__).parent / "data" / "csaf"
CISCO = DATA / "documents" / "cisco-sa-20180328-smi2.json"
SAMPLES = sorted((DATA / "documents").glob("*.json")) + sorted((DATA / "vex").glob("*.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def cisco_with_fix() -> dict[str, Any]:
    """Revision 3.1.0 of the real Cisco document, derived here: the published document
    carries a workaround only, so this adds a fixed release (15.2(2)E8, under a new
    ``product_version`` 15.2E of IOS), marks it ``fixed`` and adds a ``vendor_fix`` for every
    affected product. Everything else is the real document."""
    doc = copy.deepcopy(load(CISCO))
    doc["document"]["tracking"]["version"] = "3.1.0"
    doc["document"]["tracking"]["current_release_date"] = "2018-05-01T00:00:00Z"
    ios = doc["product_tree"]["branches"][0]["branches"][0]
    assert ios["name"] == "IOS"
    ios["branches"].append({
        "category": "product_version", "name": "15.2E", "branches": [{
            "category": "service_pack", "name": "15.2(2)E8",
            "product": {"product_id": "DERIVED-FIX-1", "name": "Cisco IOS 15.2(2)E8"}}]})  # fmt: skip
    vuln = doc["vulnerabilities"][0]
    vuln["product_status"]["fixed"] = ["DERIVED-FIX-1"]
    vuln["remediations"].append({
        "category": "vendor_fix", "details": "Upgrade to a fixed release.",
        "product_ids": list(vuln["product_status"]["known_affected"])})  # fmt: skip
    return doc
