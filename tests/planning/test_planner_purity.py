"""The planner leaves process-wide state alone; callers pause the collector around it."""

from __future__ import annotations

import doctest
import gc
from datetime import UTC, datetime

import pytest

from patchwarden.assess.assessment import assess
from patchwarden.planning.plan import plan_campaign
from patchwarden.service import collector
from patchwarden.service.collector import collector_paused
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def test_the_planner_never_touches_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)

    def refuse() -> None:
        raise AssertionError("a pure function switched the garbage collector")

    monkeypatch.setattr(gc, "disable", refuse)
    monkeypatch.setattr(gc, "enable", refuse)
    plan = plan_campaign(
        inv, demo_campaign(), a.decisions, {x.id: x for x in advisories}, a.fixes, NOW
    )
    assert plan.waves


def test_the_collector_pause_holds_its_example() -> None:
    failed, tried = doctest.testmod(collector)
    assert tried and not failed


def test_the_pause_restores_a_collector_that_was_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_pause_restores_the_collector_after_an_error() -> None:
    try:
        with collector_paused():
            raise RuntimeError("planning failed")
    except RuntimeError:
        pass
    assert gc.isenabled()
