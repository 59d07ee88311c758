"""The findings-over-time chart: each succeeded unit takes off what it fixed, and the chart
always ends at the re-scan's count, the number the summary shows."""

from __future__ import annotations

import pytest

from patchwarden.assess.assessment import Assessment
from patchwarden.service.assessments import burndown_points
from patchwarden.service.demo import run_demo
from patchwarden.service.replay import trace_run
from patchwarden.store import open_store

pytestmark = pytest.mark.slow  # a whole demo run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("burndown")
    db = f"sqlite:///{out / 'db.sqlite'}"
    result = run_demo(out / "report", db, inject_failures=False, speed=50_000)
    with open_store(db) as store:
        run = store.latest_run()
        assert run is not None
        trace = trace_run(store, run)
    return result, trace


def test_units_account_for_every_resolved_finding(demo) -> None:
    result, trace = demo
    points = burndown_points(result.before, result.after, trace)
    assert points[0].open_findings == len(result.before.findings)
    assert points[-1].open_findings == len(result.after.findings)
    assert "rescan" not in [p.label for p in points]  # every fix came from a unit's steps
    assert all(a.open_findings >= b.open_findings for a, b in zip(points, points[1:], strict=False))


def _untouched(result, trace) -> list:
    """Findings still open after the run on assets no unit's steps touched."""
    touched = {u.target for u in trace.plan.units()}
    touched |= {s.target for u in trace.plan.units() for s in u.steps}
    found = [f for f in result.after.findings if f.asset_id not in touched]
    assert found, "the demo has findings on assets no unit touches (provider-owned)"
    return found


def test_a_new_finding_on_an_untouched_asset_ends_the_chart_at_the_rescan(demo) -> None:
    result, trace = demo
    extra = _untouched(result, trace)[0].model_copy(update={"advisory_id": "NEW-1"})
    after = Assessment(result.after.at, (*result.after.findings, extra), result.after.decisions)
    points = burndown_points(result.before, after, trace)
    assert points[-1].label == "rescan"
    assert points[-1].open_findings == len(after.findings) == points[-2].open_findings + 1


def test_a_finding_gone_without_a_unit_ends_the_chart_at_the_rescan(demo) -> None:
    result, trace = demo
    gone = _untouched(result, trace)[0]
    kept = tuple(f for f in result.after.findings if f != gone)
    after = Assessment(result.after.at, kept, result.after.decisions)
    points = burndown_points(result.before, after, trace)
    assert points[-1].label == "rescan"
    assert points[-1].open_findings == len(after.findings) == points[-2].open_findings - 1
