"""The in-memory journal and the store's journal against one journal conformance suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance import JournalConformance, OpenJournal

from patchwarden.engine.journal import Journal, MemoryJournal
from patchwarden.engine.store_journal import StoreJournal
from patchwarden.store import open_store

RUNS = ("run-a", "run-b")


class TestMemoryJournal(JournalConformance):
    @pytest.fixture
    def open_journal(self) -> OpenJournal:
        # A memory journal lives as long as its process: "reopening" finds the same one.
        journals = {run: MemoryJournal() for run in RUNS}

        def open_one(run: str) -> Journal:
            return journals[run]

        return open_one


class TestStoreJournal(JournalConformance):
    @pytest.fixture
    def open_journal(self, tmp_path: Path) -> Iterator[OpenJournal]:
        store = open_store(f"sqlite:///{tmp_path / 'journal.db'}")
        store.save_plan("a" * 64, "conformance", {})
        for run in RUNS:
            store.create_run("a" * 64, run_id=run)

        def open_one(run: str) -> Journal:
            return StoreJournal(store, run)  # a new journal reads what the store holds

        yield open_one
        store.close()
