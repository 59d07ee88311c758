"""Change records in the store: submit, four eyes, hash pinning, and what a runner checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.domain.change import ChangeState
from patchwarden.domain.plan import Plan
from patchwarden.service.campaigns import PlanBuild, build_plan, load_campaign
from patchwarden.service.change import (
    ChangeNotApproved,
    ChangeRefused,
    approve_change,
    draft_change,
    finish_change,
    needs_change,
    reject_change,
    require_approved,
    start_change,
    submit_change,
)
from patchwarden.service.sources import demo_advisories, demo_inventory
from patchwarden.store import Store, open_store
from patchwarden.store.changes import StaleChange

T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
CAMPAIGN = """\
name: small
groups:
  web: {select: {role: web}, strategy: rolling, max_unavailable: 25%}
  hypervisors: {select: {kind: hypervisor}, strategy: evacuate}
promotion: {soak: {dev: 1d}}
windows:
  prod-night: {cron: '0 22 * * *', duration: 6h, cutoff: 30m, timezone: Europe/Berlin, env: [prod]}
change: {approvals: 1}
"""


@pytest.fixture(scope="module")
def built() -> PlanBuild:
    loaded = load_campaign("small.yaml", CAMPAIGN)
    return build_plan(loaded, demo_inventory().inventory, demo_advisories(), T)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as opened:
        yield opened


def submit(store: Store, built: PlanBuild, plan: Plan | None = None, who: str = "alice") -> int:
    plan = plan or built.plan
    a = built.assessment
    draft = draft_change(plan, built.campaign, built.inventory, a.findings, a.decisions, who, T)
    return submit_change(store, plan, draft, T).id


def test_the_draft_carries_what_the_board_needs(built: PlanBuild) -> None:
    a = built.assessment
    rec = draft_change(
        built.plan, built.campaign, built.inventory, a.findings, a.decisions, "alice", T
    )
    assert needs_change(built.plan, built.campaign)
    assert rec.plan_hash == built.plan.digest() and rec.state is ChangeState.DRAFT
    assert rec.risk.level in ("high", "critical") and rec.risk.findings > 0
    assert rec.risk.reasons and sum(rec.risk.by_severity.values()) == rec.risk.findings
    assert "web-prod-01" in rec.affected_assets
    assert any(s.startswith("pool lb-prod/") for s in rec.affected_services)
    assert {r.group: r.strategy for r in rec.rollback_plan} == {
        "hypervisors": "evacuate",
        "web": "rolling",
    }
    assert all("(automatic)" in r.how for r in rec.rollback_plan)
    prod = [e for e in rec.schedule if e.env == "prod"]
    assert prod and all(e.windows == ("prod-night",) for e in prod)
    assert all(e.start is not None and e.start.hour in (21, 22, 23, 0, 1, 2, 3) for e in prod)


def test_submit_approve_start_finish(store: Store, built: PlanBuild) -> None:
    cid = submit(store, built)
    with pytest.raises(
        ChangeNotApproved,
        match=r"submitted and needs 1 more approval\(s\) by someone other than alice",
    ):
        require_approved(store, built.plan)
    with pytest.raises(ChangeRefused, match="four eyes"):
        approve_change(store, cid, "alice", T)
    approved = approve_change(store, cid, "bob", T + timedelta(hours=1), "ok")
    assert approved.state is ChangeState.APPROVED and approved.approvers == ("bob",)
    assert require_approved(store, built.plan).id == cid
    running = start_change(store, built.plan, "runner", T + timedelta(hours=2))
    assert running.state is ChangeState.IN_PROGRESS
    assert [h.to_state for h in running.history][-2:] == [
        ChangeState.SCHEDULED,
        ChangeState.IN_PROGRESS,
    ]
    done = finish_change(store, cid, "completed", "runner", T + timedelta(hours=3))
    assert done.state is ChangeState.COMPLETED
    stored = store.get_change(cid)
    assert stored == done and stored is not None and stored.revision == done.revision
    # Closing it again with the same outcome (a resumed run) changes nothing.
    assert finish_change(store, cid, "completed", "runner", T + timedelta(hours=4)) == done
    # A person's rollback of the finished run backs the change out.
    backed_out = finish_change(store, cid, "rolled_back", "carol", T + timedelta(hours=5))
    assert backed_out.state is ChangeState.ROLLED_BACK
    assert backed_out.history[-1].by == "carol"
    with pytest.raises(ChangeRefused, match="is rolled_back; it cannot become completed"):
        finish_change(store, cid, "completed", "runner", T + timedelta(hours=6))


def test_a_changed_plan_needs_a_new_approval(store: Store, built: PlanBuild) -> None:
    cid = submit(store, built)
    approve_change(store, cid, "bob", T)
    changed = built.plan.model_copy(update={"max_errors": built.plan.max_errors + 1})
    with pytest.raises(
        ChangeNotApproved, match="the plan changed since approval: CHG-1 approved plan"
    ):
        require_approved(store, changed)
    new = submit(store, built, changed)
    assert store.get_change(cid).state is ChangeState.SUPERSEDED
    with pytest.raises(ChangeNotApproved):
        require_approved(store, built.plan)  # superseded approvals no longer count
    approve_change(store, new, "carol", T)
    assert require_approved(store, changed).id == new


def test_no_change_at_all_says_how_to_get_one(store: Store, built: PlanBuild) -> None:
    with pytest.raises(ChangeNotApproved, match="has no change record; submit one"):
        require_approved(store, built.plan)


def test_submitting_the_same_plan_twice_returns_the_open_change(
    store: Store, built: PlanBuild
) -> None:
    assert submit(store, built) == submit(store, built, who="dave")
    assert len(store.changes()) == 1


def test_a_rejected_change_blocks_the_plan(store: Store, built: PlanBuild) -> None:
    cid = submit(store, built)
    rec = reject_change(store, cid, "bob", T, "no rollback test in staging")
    assert rec.state is ChangeState.REJECTED
    with pytest.raises(ChangeNotApproved, match="is rejected; submit the plan again"):
        require_approved(store, built.plan)


def test_two_writers_of_one_revision_cannot_both_win(store: Store, built: PlanBuild) -> None:
    cid = submit(store, built)
    read = store.get_change(cid)
    assert read is not None
    store.update_change(read.decide("bob", T, "approved"))
    with pytest.raises(StaleChange, match="changed by someone else"):
        store.update_change(read.decide("carol", T, "rejected"))
    assert store.get_change(cid).state is ChangeState.APPROVED


def test_a_change_cannot_be_repinned_or_pin_an_unsaved_plan(store: Store, built: PlanBuild) -> None:
    cid = submit(store, built)
    read = store.get_change(cid)
    assert read is not None
    with pytest.raises(ValueError, match="cannot be re-pinned"):
        store.update_change(read.model_copy(update={"plan_hash": "f" * 64}))
    with pytest.raises(KeyError, match="save the plan first"):
        store.create_change(read.model_copy(update={"plan_hash": "e" * 64}))


def test_an_unknown_change_is_an_input_error(store: Store) -> None:
    from patchwarden.errors import InputError

    with pytest.raises(InputError, match="no change CHG-9"):
        approve_change(store, 9, "bob", T)
