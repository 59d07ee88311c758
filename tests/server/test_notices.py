"""The notice rules (pure), channel filters, and the once-a-day SLA check on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from patchwarden.domain.audit import AuditEntry
from patchwarden.errors import ValidationFailed
from patchwarden.service.assessing import assess_estate
from patchwarden.service.notices import Notice, narrowed, notices_of
from patchwarden.service.notify import load_notify_config, record_overdue, wanted
from patchwarden.service.policy import default_policy
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

AT = datetime(2026, 12, 1, tzinfo=UTC)


def entry(seq: int, action: str, object_type: str, object_id: str, **details: Any) -> AuditEntry:
    return AuditEntry(
        seq=seq, at=AT, actor="engine", action=action, object_type=object_type,
        object_id=object_id, details=details, prev_hash="0" * 64, hash=f"{seq:064x}",
    )  # fmt: skip


def finding(asset: str, env: str, severity: str) -> dict[str, str]:
    return {"asset": asset, "package": "openssl", "advisory": "DSA-1", "env": env,
            "severity": severity}  # fmt: skip


def test_each_rule_turns_its_entries_into_notices_and_nothing_else() -> None:
    entries = [
        entry(1, "run.stop", "run", "r1", state="paused", waiting=["w1.canary.analysis"]),
        entry(2, "run.stop", "run", "r2", state="paused"),  # a person paused it: not news
        entry(3, "job.fail", "job", "scan", failures=2, error="no route"),
        entry(4, "job.fail", "job", "scan", failures=3, error="no route"),
        entry(5, "assessment.record", "assessment", "7", findings=9,
              new_emergency=[finding("web-01", "prod", "critical")], new_emergency_count=1),
        entry(6, "assessment.record", "assessment", "8", findings=9),  # nothing new
        entry(7, "sla.overdue", "assessment", "8", day="2026-12-01",
              findings=[finding("db-01", "dev", "high"), finding("web-01", "prod", "critical")]),
        entry(8, "scan.record", "scans", "1-4", scans=4),
    ]  # fmt: skip
    notices = notices_of(entries, lambda t, i: ["prod"], job_failures=2)
    assert [(n.event, n.seq) for n in notices] == [
        ("run.held", 1), ("job.failing", 3), ("finding.emergency", 5), ("sla.overdue", 7),
    ]  # fmt: skip
    held, failing, urgent, late = notices
    assert "held for a person" in held.subject and "w1.canary.analysis" in held.subject
    assert failing.subject.startswith("scheduled job scan failed 2 times")
    assert urgent.environments == ("prod",) and urgent.items[0]["asset"] == "web-01"
    assert "new_emergency" not in urgent.details, "the findings are the items, once"
    assert late.environments == ("dev", "prod") and len(late.items) == 2
    assert late.as_json()["findings"][0]["asset"] == "db-01"


def test_a_channel_gets_only_its_environments_and_severities_of_findings() -> None:
    late = notices_of(
        [entry(7, "sla.overdue", "assessment", "8", findings=[
            finding("db-01", "dev", "high"), finding("web-01", "prod", "critical"),
            finding("web-02", "prod", "medium")])],
        lambda t, i: [],
    )[0]  # fmt: skip
    prod_critical = narrowed(late, ["sla.overdue"], ["prod"], ["critical"])
    assert prod_critical is not None
    assert [i["asset"] for i in prod_critical.items] == ["web-01"]
    assert prod_critical.subject.startswith("1 finding(s) past their SLA due date: web-01")
    assert narrowed(late, ["sla.overdue"], ["qa"]) is None
    assert narrowed(late, ["run.failed"]) is None
    assert narrowed(late, ["sla.overdue"]) is late
    # A severity filter does not stop notices that have no severity.
    run = Notice("run.failed", "s", "run", "r", ("prod",))
    assert narrowed(run, ["run.failed"], ["prod"], ["critical"]) is run


def test_channel_filters_are_validated_naming_file_line_and_field() -> None:
    config = load_notify_config(
        "n.yaml",
        "job_failures: 5\nchannels:\n  a:\n    type: webhook\n    url: 'http://127.0.0.1:9/'\n"
        "    secret_env: S\n    severities: [critical, high]\n    environments: [prod]\n",
    )
    channel = config.channels["a"]
    assert config.job_failures == 5 and channel.severities == ("critical", "high")
    n = Notice("sla.overdue", "s", "assessment", "1", ("prod",),
               items=(finding("x", "prod", "low"),))  # fmt: skip
    assert wanted(channel, n) is None
    with pytest.raises(ValidationFailed) as bad:
        load_notify_config(
            "n.yaml",
            "channels:\n  a:\n    type: webhook\n    url: 'http://127.0.0.1:9/'\n"
            "    secret_env: S\n    severities: [urgent]\n    environments: ['prod; rm']\n",
        )
    problems = sorted((p.line, p.field) for p in bad.value.problems)
    assert problems == [(6, "channels.a.severities[0]"), (7, "channels.a.environments[0]")]
    assert all(p.file == "n.yaml" for p in bad.value.problems)
    with pytest.raises(ValidationFailed) as zero:
        load_notify_config("n.yaml", "job_failures: 0\n")
    assert zero.value.problems[0].field == "job_failures"


def test_overdue_findings_are_written_once_a_day_each(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    then = datetime.now(UTC) - timedelta(days=60)
    with open_store(db) as store:
        assert record_overdue(store, then) == 0, "no assessment yet"
        assess_estate(store, [], demo=True, policy=default_policy(), now=then)
        now = datetime.now(UTC)
        first = record_overdue(store, now)
        assert first > 0
        assert record_overdue(store, now) == 0, "same day, same assessment: not looked at"
        store.set_cursor("sla.assessment", 0)  # as if a new assessment came: looked at, none new
        assert record_overdue(store, now) == 0
        assert record_overdue(store, now + timedelta(days=1)) == first, "a new day: told again"
        entries = store.audit.entries(AuditFilter(action="sla.overdue"))
    assert [e.details["count"] for e in entries] == [first, first]
    assert {e.actor for e in entries} == {"notifier"}
    days = [int(i["days_overdue"]) for i in entries[0].details["findings"]]
    assert days == sorted(days, reverse=True) and days[-1] >= 1
