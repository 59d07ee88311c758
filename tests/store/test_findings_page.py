"""Findings filtered, counted and paged in the database, as the API's findings list reads them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.service.findings import FindingFilter, find, to_csv
from patchwarden.store import Store, open_store

ENVS = {"web-1": "prod", "web-2": "prod", "db-1": "dev", "db-2": "qa"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'f.db'}") as opened:
        opened.record_assessment({"env_of": {"web-1": "dev"}}, [])  # an older one: ignored
        findings = [
            {
                "asset_id": asset,
                "package": f"pkg{i}",
                "advisory_id": f"ADV-{i % 3}",
                "installed": "1",
                "fixed": "2",
                "severity": ("critical", "high", "low")[i % 3],
                "decision": ("emergency", "next_window")[i % 2],
                "reason": "because",
            }  # fmt: skip
            for i in range(12)
            for asset in sorted(ENVS)
        ]
        opened.record_assessment({"env_of": ENVS, "packages": {"web-1": {"a": "1"}}}, findings)
        yield opened


def test_no_assessment_is_an_empty_page(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'empty.db'}") as empty:
        assert find(empty, FindingFilter()).total == 0


def test_everything_then_pages_in_recorded_order(store: Store) -> None:
    everything = find(store, FindingFilter(), per_page=1000)
    assert everything.assessment_id == 2 and everything.total == 48 == len(everything.items)
    assert {r.env for r in everything.items} == {"prod", "dev", "qa"}
    second = find(store, FindingFilter(), page=2, per_page=5)
    assert second.total == 48 and second.items == everything.items[5:10]
    assert find(store, FindingFilter(), page=99, per_page=5).items == ()


def test_filters_combine_and_a_grant_limits_by_environment(store: Store) -> None:
    result = find(store, FindingFilter(severity=("critical",), env=("prod",)), per_page=1000)
    assert result.total == 8 and {(r.env, r.severity) for r in result.items} == {
        ("prod", "critical")
    }
    mine = find(store, FindingFilter(), environments=("dev",), per_page=1000)
    assert mine.total == 12 and {r.asset_id for r in mine.items} == {"db-1"}
    # A filter outside the grant finds nothing rather than widening it.
    assert find(store, FindingFilter(env=("prod",)), environments=("dev",)).total == 0
    assert find(store, FindingFilter(asset_id="web-1"), environments=("dev",)).total == 0
    assert find(store, FindingFilter(asset_id="web-1"), environments=("staging",)).total == 0
    assert find(store, FindingFilter(asset_id="web-1")).total == 12
    both = find(store, FindingFilter(decision=("emergency",), advisory_id="ADV-0"), per_page=100)
    assert both.total == 8 and {(r.decision, r.advisory_id) for r in both.items} == {
        ("emergency", "ADV-0")
    }


def test_csv_has_a_header_and_one_line_per_row(store: Store) -> None:
    page = find(store, FindingFilter(env=("qa",)), per_page=3)
    lines = to_csv(page.items).splitlines()
    assert lines[0] == "asset_id,env,package,installed,fixed,advisory_id,severity,decision,reason"
    assert len(lines) == 4 and all(line.startswith("db-2,qa,") for line in lines[1:])
