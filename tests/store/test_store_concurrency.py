"""Several processes on one database: they take turns where they must, and never mix.

Real processes (``writer.py``), not threads: each has its own connections, as two
``patchwarden`` commands would. They start at the same instant, so their writes overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from patchwarden.service.audit import verify_trail
from patchwarden.store import Store

WRITER = Path(__file__).with_name("writer.py")


def race(url: str, what: str, names: list[str], count: int, *extra: str) -> dict[str, Any]:
    """Run one writer process per name at the same moment; what each one got, by name."""
    start = f"{time.time() + 2.5:.3f}"  # time enough for every interpreter to start
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(WRITER), url, what, name, str(count), start, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in names
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    return results


class ConcurrencyConformance:
    """Behaviour under concurrent writers; subclasses provide ``db_url``."""

    def test_processes_opening_a_fresh_database_at_once_migrate_it_once(self, db_url: str) -> None:
        # No ``store`` fixture here: the database is empty until the writers open it.
        opened = race(db_url, "open", ["alpha", "beta", "gamma"], 1)
        assert opened == {"alpha": [True], "beta": [True], "gamma": [True]}

    def test_assessments_recorded_at_once_do_not_mix(self, store: Store, db_url: str) -> None:
        ids = race(db_url, "assessment", ["alpha", "beta"], 6)
        assert len(set(ids["alpha"]) | set(ids["beta"])) == 12
        for name, assessment_ids in ids.items():
            for assessment_id in assessment_ids:
                record = store.get_assessment(assessment_id)
                assert record is not None and record.summary["writer"] == name
                findings = store.findings_for(assessment_id)
                assert len(findings) == 50
                assert {f.advisory_id for f in findings} == {name}

    def test_audit_appends_from_two_processes_keep_one_chain(
        self, store: Store, db_url: str
    ) -> None:
        seqs = race(db_url, "audit", ["alpha", "beta"], 20)
        assert sorted(seqs["alpha"] + seqs["beta"]) == list(range(1, 41))
        assert verify_trail(store).entries == 40

    def test_journal_appends_from_two_processes_number_one_sequence(
        self, store: Store, db_url: str
    ) -> None:
        store.save_plan("a" * 64, "p", {})
        run_id = store.create_run("a" * 64).id
        seqs = race(db_url, "journal", ["alpha", "beta"], 30, run_id)
        assert sorted(seqs["alpha"] + seqs["beta"]) == list(range(1, 61))
        events = store.events(run_id)
        assert Counter(e.step_id for e in events) == {"alpha": 30, "beta": 30}

    def test_one_of_several_processes_wins_a_free_lease(self, store: Store, db_url: str) -> None:
        store.save_plan("a" * 64, "p", {})
        run_id = store.create_run("a" * 64).id
        names = ["alpha", "beta", "gamma"]
        holders = race(db_url, "lease", names, 1, run_id)
        # Every process was told the same holder, and only that one holds the run.
        told = {seen[0] for seen in holders.values()}
        assert len(told) == 1 and told <= set(names)
        lease = store.lease(run_id)
        assert lease is not None and {lease.holder} == told


class LeaseConformance:
    """A run's lease: one holder until it expires or is given up."""

    def test_a_valid_lease_refuses_a_second_holder_until_it_expires(self, store: Store) -> None:
        t = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
        store.save_plan("a" * 64, "p", {})
        run_id = store.create_run("a" * 64, started_at=t).id
        first = store.take_lease(run_id, "a", t, t + timedelta(seconds=30))
        assert first.holder == "a"
        assert store.take_lease(run_id, "b", t, t + timedelta(seconds=30)).holder == "a"
        assert store.renew_lease(run_id, "a", t + timedelta(seconds=60))
        later = t + timedelta(seconds=45)
        assert store.take_lease(run_id, "b", later, later).holder == "a"
        expired = t + timedelta(seconds=61)
        assert store.take_lease(run_id, "b", expired, expired + timedelta(seconds=30)).holder == "b"
        assert not store.renew_lease(run_id, "a", expired)
        assert not store.release_lease(run_id, "a")
        assert store.release_lease(run_id, "b") and store.lease(run_id) is None

    def test_take_over_names_a_holder_known_gone(self, store: Store) -> None:
        t = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
        store.save_plan("a" * 64, "p", {})
        run_id = store.create_run("a" * 64, started_at=t).id
        store.take_lease(run_id, "dead", t, t + timedelta(hours=1))
        assert store.take_lease(run_id, "b", t, t, take_over="other").holder == "dead"
        assert store.take_lease(run_id, "b", t, t, take_over="dead").holder == "b"

    def test_lease_of_unknown_run_is_refused(self, store: Store) -> None:
        t = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
        with pytest.raises(KeyError, match="no run"):
            store.take_lease("nope", "a", t, t)


@pytest.mark.slow
class TestSqliteConcurrency(ConcurrencyConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.mark.slow
class TestPostgresConcurrency(ConcurrencyConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url


class TestSqliteLease(LeaseConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresLease(LeaseConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url
