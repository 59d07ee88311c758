"""Conformance of run journals: what the engine reads back is what it wrote, in order.

The in-memory journal (tests, what-if runs) and the store's journal must agree record
for record, or a run could pass in a rehearsal and differ when it is resumed from the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from patchwarden.engine.journal import Journal
from patchwarden.engine.machine import Record

OpenJournal = Callable[[str], Journal]
"""Opens the journal of a run (``"run-a"`` or ``"run-b"``), as a restarted process would."""

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _records(journal: Journal) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.step_id, r.event, dict(r.payload)) for r in journal.records()]


class JournalConformance:
    """Fixtures: ``open_journal`` (see :data:`OpenJournal`)."""

    def test_a_new_journal_is_empty(self, open_journal: OpenJournal) -> None:
        assert list(open_journal("run-a").records()) == []

    def test_records_come_back_in_the_order_they_were_appended(
        self, open_journal: OpenJournal
    ) -> None:
        journal = open_journal("run-a")
        for n in range(5):
            journal.append(f"s{n % 2}", "started" if n < 4 else "run-finished", {"n": n}, AT)
        records = journal.records()
        assert all(isinstance(r, Record) for r in records)
        assert _records(journal) == [
            ("s0", "started", {"n": 0}),
            ("s1", "started", {"n": 1}),
            ("s0", "started", {"n": 2}),
            ("s1", "started", {"n": 3}),
            ("s0", "run-finished", {"n": 4}),
        ]

    def test_records_already_read_do_not_change(self, open_journal: OpenJournal) -> None:
        journal = open_journal("run-a")
        journal.append("s", "started", {}, AT)
        earlier = journal.records()
        journal.append("s", "succeeded", {}, AT)
        assert len(earlier) == 1 and len(journal.records()) == 2

    def test_a_record_keeps_the_payload_as_it_was_appended(self, open_journal: OpenJournal) -> None:
        journal = open_journal("run-a")
        payload: dict[str, Any] = {"versions": {"openssl": "3.0.11"}, "hosts": ["a"]}
        journal.append("s", "started", payload, AT)
        payload["versions"]["openssl"] = "changed"  # the caller reuses its dict
        payload["hosts"].append("b")
        payload["new"] = 1
        assert _records(journal) == [
            ("s", "started", {"versions": {"openssl": "3.0.11"}, "hosts": ["a"]})
        ]

    def test_payloads_read_back_as_json_the_same_before_and_after_reopening(
        self, open_journal: OpenJournal
    ) -> None:
        journal = open_journal("run-a")
        payload = {"pair": ("a", 1), "none": None, "ok": True, "x": 1.5, "name": "é✓"}
        journal.append("s", "started", payload, AT)
        expected = [("s", "started", {"pair": ["a", 1], "none": None, "ok": True, "x": 1.5,
                                      "name": "é✓"})]  # fmt: skip
        assert _records(journal) == expected
        assert _records(open_journal("run-a")) == expected

    @pytest.mark.parametrize("bad", [{"obj": object()}, {"nan": float("nan")}, {"set": {1}}])
    def test_a_payload_that_is_not_json_is_refused_and_nothing_is_appended(
        self, open_journal: OpenJournal, bad: dict[str, Any]
    ) -> None:
        journal = open_journal("run-a")
        with pytest.raises(ValueError):
            journal.append("s", "started", bad, AT)
        assert list(journal.records()) == []
        assert list(open_journal("run-a").records()) == []

    def test_a_time_without_a_zone_is_refused(self, open_journal: OpenJournal) -> None:
        journal = open_journal("run-a")
        with pytest.raises(ValueError):
            journal.append("s", "started", {}, datetime(2026, 11, 1, 12, 0))
        assert list(journal.records()) == []

    def test_a_reopened_journal_replays_everything_and_appends_after_it(
        self, open_journal: OpenJournal
    ) -> None:
        first = open_journal("run-a")
        first.append("s1", "started", {"n": 1}, AT)
        first.append("s1", "succeeded", {"n": 2}, AT + timedelta(seconds=1))
        second = open_journal("run-a")
        assert _records(second) == _records(first)
        second.append("s2", "started", {"n": 3}, AT + timedelta(seconds=2))
        assert [r.payload["n"] for r in open_journal("run-a").records()] == [1, 2, 3]

    def test_runs_have_separate_journals(self, open_journal: OpenJournal) -> None:
        open_journal("run-a").append("s", "started", {"run": "a"}, AT)
        open_journal("run-b").append("s", "started", {"run": "b"}, AT)
        assert _records(open_journal("run-a")) == [("s", "started", {"run": "a"})]
        assert _records(open_journal("run-b")) == [("s", "started", {"run": "b"})]
