from __future__ import annotations

from datetime import date, datetime, timedelta

from patchwarden.assess.policy import Policy
from patchwarden.assess.sla import (
    Snapshot,
    due_buckets,
    due_date,
    first_seen,
    mean_time_to_remediate,
    overdue,
)
from patchwarden.domain.advisories import Action, Decision, Severity

T = datetime(2026, 11, 1, 8)


def test_default_sla_days_and_kev_due() -> None:
    p = Policy()
    start = date(2026, 11, 1)
    days = {s: (due_date(s, start, p) - start).days for s in Severity}
    assert days == {
        Severity.CRITICAL: 7,
        Severity.HIGH: 30,
        Severity.MEDIUM: 90,
        Severity.LOW: 180,
        Severity.NONE: 365,
    }
    assert due_date(Severity.LOW, start, p, date(2026, 11, 5)) == date(2026, 11, 5)
    assert due_date(Severity.CRITICAL, start, p, date(2027, 1, 1)) == date(2026, 11, 8)
    off = Policy.model_validate({"sla": {"kev_due_dates": False}})
    assert due_date(Severity.LOW, start, off, date(2026, 11, 5)) == date(2027, 4, 30)


def _d(asset: str, due: date | None, action: Action = Action.NEXT_WINDOW) -> Decision:
    return Decision(
        asset_id=asset, advisory_id="A", package="p", action=action, reason="r", due=due
    )


def test_overdue_lists_the_longest_overdue_first_and_skips_ignored() -> None:
    today = date(2026, 11, 20)
    decisions = [
        _d("a", date(2026, 11, 19)),
        _d("b", date(2026, 11, 1)),
        _d("c", date(2026, 11, 25)),
        _d("d", date(2026, 11, 1), Action.IGNORE),
        _d("e", None),
    ]
    items = overdue(decisions, {"a": "prod", "b": "dev"}, today)
    assert [(i.asset_id, i.env, i.days_overdue) for i in items] == [
        ("b", "dev", 19),
        ("a", "prod", 1),
    ]
    assert due_buckets(decisions, today) == {
        "overdue": 2,
        "due in 7 days": 1,
        "due in 30 days": 0,
        "later": 0,
        "no date": 1,
    }


def test_mttr_per_env_and_severity_from_assessments_over_time() -> None:
    a, b, c = ("web-1", "A", "p"), ("db-1", "B", "q"), ("web-1", "C", "r")
    snaps = [
        Snapshot(T, {a: Severity.HIGH, b: Severity.CRITICAL}),
        Snapshot(T + timedelta(days=2), {a: Severity.HIGH, c: Severity.HIGH}),
        Snapshot(T + timedelta(days=5), {}),
    ]
    rows = mean_time_to_remediate(list(reversed(snaps)), {"web-1": "prod", "db-1": "staging"})
    got = {(r.env, r.severity): (r.remediated, r.mean_days) for r in rows}
    # a: 5 days, c: 3 days -> prod/high 4.0; b: gone after 2 days.
    assert got == {("prod", "high"): (2, 4.0), ("staging", "critical"): (1, 2.0)}


def test_first_seen_restarts_when_a_finding_comes_back() -> None:
    a = ("web-1", "A", "p")
    snaps = [
        Snapshot(T, {a: Severity.HIGH}),
        Snapshot(T + timedelta(days=1), {}),
        Snapshot(T + timedelta(days=2), {a: Severity.HIGH}),
        Snapshot(T + timedelta(days=3), {a: Severity.HIGH}),
    ]
    assert first_seen(snaps) == {a: T + timedelta(days=2)}
