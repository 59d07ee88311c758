"""The gate before real work: an approved change pinning this plan, inside a window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.errors import InputError
from patchwarden.service.apply import PreparedPlan, authorize
from patchwarden.service.campaigns import build_plan, load_campaign
from patchwarden.service.change import (
    ChangeNotApproved,
    approve_change,
    draft_change,
    submit_change,
)
from patchwarden.service.sources import demo_advisories, demo_inventory
from patchwarden.store import Store, open_store

T = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # a Tuesday, 21:00 in Berlin
CAMPAIGN = """\
name: gate
groups:
  web: {select: {role: web}, strategy: rolling, max_unavailable: 25%}
windows:
  nightly: {cron: '0 22 * * *', duration: 6h, cutoff: 30m, timezone: Europe/Berlin}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as opened:
        yield opened


def _prepared() -> tuple[PreparedPlan, object]:
    built = build_plan(
        load_campaign("gate.yaml", CAMPAIGN), demo_inventory().inventory, demo_advisories(), T
    )
    return PreparedPlan(built.plan, built.inventory, (), built.campaign), built


def _approve(store: Store, built: object) -> None:
    a = built.assessment
    draft = draft_change(
        built.plan, built.campaign, built.inventory, a.findings, a.decisions, "alice", T
    )
    change = submit_change(store, built.plan, draft, T)
    approve_change(store, change.id, "bob", T)


def test_prod_needs_an_approved_change_pinning_the_plan(store: Store) -> None:
    prepared, _ = _prepared()
    with pytest.raises(ChangeNotApproved):
        authorize(store, prepared, T + timedelta(hours=1, minutes=30))


def test_approved_change_inside_the_window_may_start(store: Store) -> None:
    prepared, built = _prepared()
    _approve(store, built)
    ran, change = authorize(store, prepared, T + timedelta(hours=1, minutes=30))  # 22:30 Berlin
    assert change is not None and change.plan_hash == prepared.plan.digest()
    assert ran.plan == prepared.plan


def test_outside_every_window_is_refused_with_the_next_one(store: Store) -> None:
    prepared, built = _prepared()
    _approve(store, built)
    with pytest.raises(InputError, match="not starting: outside every maintenance window"):
        authorize(store, prepared, T)  # 21:00 Berlin: before the window opens


def test_what_runs_is_the_approved_plan_not_one_compiled_later(store: Store) -> None:
    prepared, built = _prepared()
    _approve(store, built)
    later = prepared.plan.model_copy(update={"created_at": T + timedelta(hours=2)})
    assert later.digest() != prepared.plan.digest()
    again = PreparedPlan(later, prepared.inventory, (), prepared.campaign)
    ran, change = authorize(store, again, T + timedelta(hours=2))
    assert change is not None
    assert ran.plan.digest() == prepared.plan.digest() == change.plan_hash


def test_a_plan_file_that_was_not_approved_is_refused(store: Store) -> None:
    prepared, built = _prepared()
    _approve(store, built)
    other = prepared.plan.model_copy(update={"max_errors": prepared.plan.max_errors + 1})
    with pytest.raises(ChangeNotApproved, match="changed since approval"):
        authorize(store, PreparedPlan(other, prepared.inventory, (), None), T + timedelta(hours=2))
