"""Scans in the store: appended, never overwritten, newest per asset and source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select

from patchwarden.store import Store, open_store
from patchwarden.store.migrate import alembic_config
from patchwarden.store.scans import ScanInput
from patchwarden.store.tables import Scan

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'scans.db'}") as opened:
        yield opened


def _scan(asset: str, source: str, minutes: int, ok: bool = True, **data: object) -> ScanInput:
    return ScanInput(asset, source, T0 + timedelta(minutes=minutes), ok, dict(data))


def test_two_sources_are_kept_side_by_side_and_the_newest_of_each_wins(store: Store) -> None:
    ids = store.record_scans(
        [
            _scan("app-1", "ssh", 0, packages={"openssl": "1"}),
            _scan("app-1", "sbom", 5, packages={"lodash": "4.17.20"}),
            _scan("app-1", "ssh", 10, packages={"openssl": "2"}),
            _scan("web-1", "local", 1, packages={}),
        ]
    )
    assert ids == sorted(ids) and len(set(ids)) == 4
    latest = store.latest_scans()
    assert [(s.asset_id, s.source, s.data["packages"]) for s in latest] == [
        ("app-1", "sbom", {"lodash": "4.17.20"}),
        ("app-1", "ssh", {"openssl": "2"}),
        ("web-1", "local", {}),
    ]
    assert latest[1].scanned_at == T0 + timedelta(minutes=10)
    assert latest[1].scanned_at.tzinfo is not None


def test_a_failed_scan_never_hides_the_last_good_data(store: Store) -> None:
    store.record_scans([_scan("db-1", "ssh", 0, packages={"a": "1"})])
    store.record_scans([_scan("db-1", "ssh", 60, ok=False, error="timed out")])
    assert [s.data for s in store.latest_scans()] == [{"packages": {"a": "1"}}]
    attempts = store.latest_scans(ok_only=False)
    assert [(s.ok, s.data) for s in attempts] == [(False, {"error": "timed out"})]


def test_scans_are_appended_never_rewritten(store: Store) -> None:
    for minute in range(3):
        store.record_scans([_scan("db-1", "ssh", minute, packages={"a": str(minute)})])
    with store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Scan)) == 3


@pytest.mark.parametrize(
    "scan,message",
    [
        (ScanInput("x", "ftp", T0, True, {}), "source"),
        (ScanInput("", "ssh", T0, True, {}), "asset id"),
        (ScanInput("x", "ssh", datetime(2026, 1, 1), True, {}), "naive"),
        (ScanInput("x", "ssh", T0, True, {"bad": object()}), "JSON"),
    ],
)
def test_bad_scans_are_refused_before_anything_is_written(
    store: Store, scan: ScanInput, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.record_scans([_scan("ok", "ssh", 0), scan])
    assert store.latest_scans() == []


def test_migration_0003_downgrades_and_upgrades(store: Store) -> None:
    with store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
        assert "scans" not in inspect(connection).get_table_names()
        command.upgrade(alembic_config(connection), "head")
        assert "scans" in inspect(connection).get_table_names()
