"""Plans, runs and the journal; the store's life cycle."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from patchwarden.errors import StoreError
from patchwarden.store import JournalEvent, Store, open_store
from patchwarden.store.audit import AuditNote

PLAN = "0" * 63 + "1"
T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


class RunsConformance:
    """Plan, run and journal behaviour; subclasses provide ``db_url``."""

    @pytest.fixture
    def run_id(self, store: Store) -> str:
        store.save_plan(PLAN, "spring", {"steps": ["a", "b"]})
        return store.create_run(PLAN).id

    # -- a change of state and its audit entry: one transaction -------------------------

    def test_a_run_and_its_audit_entry_commit_together(self, store: Store) -> None:
        store.save_plan(PLAN, "spring", {})
        run = store.create_run(PLAN, audit=AuditNote("otto", "run.start", "run", "", PLAN))
        moved = store.set_run_state(
            run.id, "paused", audit=AuditNote("otto", "run.pause", "run", run.id, PLAN)
        )
        entries = store.audit.entries()
        assert [(e.actor, e.action, e.object_id) for e in entries] == [
            ("otto", "run.start", run.id),
            ("otto", "run.pause", run.id),
        ]
        assert moved.state == "paused"

    def test_an_audit_entry_that_cannot_be_written_leaves_the_run_as_it_was(
        self, store: Store, run_id: str
    ) -> None:
        bad = AuditNote("otto", "run.pause", "run", run_id, details={"x": object()})
        with pytest.raises(ValueError, match="audit details"):
            store.set_run_state(run_id, "paused", audit=bad)
        run = store.get_run(run_id)
        assert run is not None and run.state == "pending"
        assert store.audit.entries() == []

    def test_the_journal_is_read_on_from_a_seq(self, store: Store, run_id: str) -> None:
        for step in "abc":
            store.append_event(run_id, step, "started", {})
        assert [e.step_id for e in store.events(run_id, after=1)] == ["b", "c"]
        assert store.events(run_id, after=3) == []

    # -- plans ------------------------------------------------------------------------

    def test_save_plan_is_idempotent(self, store: Store, clock: Any) -> None:
        saved_at = clock.now
        assert store.save_plan(PLAN, "spring", {"steps": [1]}) is True
        clock.advance()
        assert store.save_plan(PLAN, "spring", {"steps": [1]}) is False
        plan = store.get_plan(PLAN)
        assert plan is not None
        assert (plan.hash, plan.name, plan.data, plan.created_at) == (
            PLAN,
            "spring",
            {"steps": [1]},
            saved_at,
        )
        assert store.get_plan("f" * 64) is None

    def test_plan_hash_longer_than_the_column_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="1 to 64 characters"):
            store.save_plan("a" * 65, "too long", {})

    # -- runs -------------------------------------------------------------------------

    def test_create_and_finish_a_run(self, store: Store, clock: Any) -> None:
        store.save_plan(PLAN, "spring", {})
        run = store.create_run(PLAN)
        assert len(run.id) == 32 and int(run.id, 16) >= 0
        assert (run.plan_hash, run.state, run.started_at) == (PLAN, "pending", clock.now)
        assert (run.finished_at, run.summary) == (None, None)
        store.set_run_state(run.id, "running")
        ended = clock.advance()
        done = store.set_run_state(run.id, "succeeded", finished_at=ended, summary={"ok": 3})
        assert store.get_run(run.id) == done
        assert (done.state, done.finished_at, done.summary) == ("succeeded", ended, {"ok": 3})

    def test_run_times_come_back_in_utc(self, store: Store) -> None:
        store.save_plan(PLAN, "spring", {})
        local = T0.astimezone(timezone(timedelta(hours=-7)))
        run = store.create_run(PLAN, started_at=local, run_id="r1")
        fetched = store.get_run("r1")
        assert fetched is not None and fetched.started_at == T0
        assert fetched.started_at.utcoffset() == timedelta(0) and run.started_at == T0

    def test_latest_run_is_the_one_started_last(self, store: Store) -> None:
        assert store.latest_run() is None
        store.save_plan(PLAN, "spring", {})
        store.create_run(PLAN, run_id="late", started_at=T0 + timedelta(hours=1))
        store.create_run(PLAN, run_id="early", started_at=T0)
        latest = store.latest_run()
        assert latest is not None and latest.id == "late"

    def test_run_of_unknown_plan_is_refused(self, store: Store) -> None:
        with pytest.raises(KeyError, match="no plan"):
            store.create_run("e" * 64)
        assert store.latest_run() is None

    def test_unknown_run(self, store: Store) -> None:
        assert store.get_run("nope") is None
        with pytest.raises(KeyError, match="no run"):
            store.set_run_state("nope", "failed")

    # -- journal ----------------------------------------------------------------------

    def test_journal_seq_counts_up_and_events_come_in_order(
        self, store: Store, run_id: str, clock: Any
    ) -> None:
        start = clock.now
        seqs = []
        for n in range(5):
            seqs.append(store.append_event(run_id, f"step-{n}", "started", {"n": n}))
            clock.advance(1)
        assert seqs == [1, 2, 3, 4, 5]
        events = store.events(run_id)
        assert [e.seq for e in events] == seqs
        assert events[2] == JournalEvent(
            run_id, 3, start + timedelta(seconds=2), "step-2", "started", {"n": 2}
        )

    def test_each_run_has_its_own_sequence(self, store: Store, run_id: str) -> None:
        other = store.create_run(PLAN).id
        store.append_event(run_id, "s", "a", {})
        store.append_event(run_id, "s", "b", {})
        assert store.append_event(other, "s", "a", {}) == 1
        assert [e.event for e in store.events(other)] == ["a"]
        assert store.events("nope") == []

    def test_explicit_event_time_is_kept(self, store: Store, run_id: str) -> None:
        store.append_event(run_id, "s", "done", {}, at=T0)
        assert store.events(run_id)[0].at == T0

    def test_event_for_unknown_run_is_refused(self, store: Store, run_id: str) -> None:
        with pytest.raises(KeyError, match="no run"):
            store.append_event("nope", "s", "started", {})

    def test_event_payload_must_be_json(self, store: Store, run_id: str) -> None:
        with pytest.raises(ValueError, match="payload of 'started'"):
            store.append_event(run_id, "s", "started", {"when": object()})
        assert store.events(run_id) == []

    def test_each_append_is_committed(self, store: Store, run_id: str, db_url: str) -> None:
        store.append_event(run_id, "s", "started", {"n": 1})
        with open_store(db_url) as other:
            assert [e.payload for e in other.events(run_id)] == [{"n": 1}]

    def test_concurrent_appends_get_distinct_seqs(self, store: Store, run_id: str) -> None:
        def append_many(worker: int) -> None:
            for n in range(25):
                store.append_event(run_id, f"w{worker}", "tick", {"n": n})

        threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [e.seq for e in store.events(run_id)] == list(range(1, 101))

    def test_journal_has_no_way_to_change_events(self) -> None:
        journal_api = {name for name in dir(Store) if "event" in name and not name.startswith("_")}
        assert journal_api == {"append_event", "events"}

    # -- life cycle -------------------------------------------------------------------

    def test_closed_store_refuses_work(self, db_url: str) -> None:
        with open_store(db_url) as store:
            pass
        with pytest.raises(StoreError, match="closed"):
            store.latest_run()


class TestSqliteRuns(RunsConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresRuns(RunsConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url
