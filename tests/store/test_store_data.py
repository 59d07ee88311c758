"""Inventory, advisories and assessments: what goes in comes out, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from patchwarden.domain.inventory import Inventory
from patchwarden.errors import StoreError
from patchwarden.store import AdvisoryInput, InventoryCounts, Store, UpsertCounts
from patchwarden.store.values import CHUNK

T0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def make_inventory(*assets: dict[str, Any]) -> Inventory:
    return Inventory.model_validate({"assets": list(assets)})


def vm(asset_id: str, env: str = "prod", **fields: Any) -> dict[str, Any]:
    return {"kind": "vm", "id": asset_id, "env": env, **fields}


def labels(inventory: Inventory, value: str = "customer") -> dict[str, str]:
    return {asset.id: value for asset in inventory.assets}


def sources(inventory: Inventory) -> dict[str, str]:
    return {asset.id: f"inventory.yaml:{n}" for n, asset in enumerate(inventory.assets, 1)}


def replace(store: Store, inventory: Inventory) -> InventoryCounts:
    return store.replace_inventory(inventory, labels(inventory), sources(inventory))


def advisory(n: int, modified: datetime = T0, **data: Any) -> AdvisoryInput:
    return (f"ADV-{n:04d}", modified, None, {"summary": f"advisory {n}", **data})


class DataConformance:
    """Inventory, advisory and assessment behaviour; subclasses provide ``db_url``."""

    # -- inventory --------------------------------------------------------------------

    def test_inventory_round_trip(self, store: Store, clock: Any) -> None:
        inventory = make_inventory(vm("web1", tags={"team": "a"}), vm("db1", env="qa"))
        assert replace(store, inventory) == InventoryCounts(2, 0, 0, 0)
        rows = {row.id: row for row in store.inventory()}
        assert list(rows) == ["db1", "web1"]
        assert rows["web1"].data == inventory.get("web1").model_dump(mode="json")
        assert (rows["db1"].kind, rows["db1"].env, rows["db1"].owner) == ("vm", "qa", "customer")
        assert rows["web1"].source == "inventory.yaml:1"
        assert rows["web1"].updated_at == clock.now

    def test_replacing_with_the_same_inventory_changes_nothing(
        self, store: Store, clock: Any
    ) -> None:
        inventory = make_inventory(vm("web1"), vm("web2"))
        replace(store, inventory)
        before = store.inventory()
        clock.advance()
        assert replace(store, inventory) == InventoryCounts(0, 0, 0, 2)
        assert store.inventory() == before  # updated_at did not move either

    def test_replace_deletes_missing_updates_changed_inserts_new(
        self, store: Store, clock: Any
    ) -> None:
        replace(store, make_inventory(vm("keep"), vm("change"), vm("gone")))
        later = clock.advance()
        counts = replace(store, make_inventory(vm("keep"), vm("change", env="qa"), vm("new")))
        assert counts == InventoryCounts(inserted=1, updated=1, deleted=1, unchanged=1)
        rows = {row.id: row for row in store.inventory()}
        assert sorted(rows) == ["change", "keep", "new"]
        assert rows["change"].env == "qa" and rows["change"].updated_at == later
        assert rows["keep"].updated_at < later

    def test_owner_or_source_change_is_an_update(self, store: Store) -> None:
        inventory = make_inventory(vm("web1"), vm("web2"))
        replace(store, inventory)
        owners = {"web1": "provider", "web2": "customer"}
        moved = {"web1": "inventory.yaml:1", "web2": "other.yaml:9"}
        assert store.replace_inventory(inventory, owners, moved) == InventoryCounts(0, 2, 0, 0)

    def test_empty_inventory_deletes_everything(self, store: Store) -> None:
        replace(store, make_inventory(vm("web1"), vm("web2")))
        assert replace(store, make_inventory()) == InventoryCounts(0, 0, 2, 0)
        assert store.inventory() == []

    def test_missing_owner_is_refused_before_writing(self, store: Store) -> None:
        replace(store, make_inventory(vm("web1")))
        before = store.inventory()
        inventory = make_inventory(vm("web2"))
        with pytest.raises(ValueError, match="no owner given for assets \\['web2'\\]"):
            store.replace_inventory(inventory, {}, sources(inventory))
        assert store.inventory() == before

    def test_failure_mid_replace_leaves_the_previous_snapshot(
        self, store: Store, clock: Any
    ) -> None:
        replace(store, make_inventory(vm("a"), vm("b"), vm("c")))
        before = store.inventory()
        clock.advance()
        # Deleting "a" and updating "b" succeed; inserting "d" with no owner breaks NOT NULL.
        inventory = make_inventory(vm("b", env="qa"), vm("c"), vm("d"))
        owners: dict[str, Any] = {**labels(inventory), "d": None}
        with pytest.raises(StoreError, match="could not replace the inventory"):
            store.replace_inventory(inventory, owners, sources(inventory))
        assert store.inventory() == before

    # -- advisories -------------------------------------------------------------------

    def test_upsert_counts_inserted_updated_unchanged(self, store: Store) -> None:
        assert store.upsert_advisories([advisory(1), advisory(2), advisory(3)]) == (3, 0, 0)
        again = [advisory(1), advisory(2), advisory(3)]
        assert store.upsert_advisories(again) == UpsertCounts(0, 0, 3)
        changed = [
            advisory(1, modified=T0 + timedelta(days=1)),  # newer modified
            advisory(2, severity="high"),  # same modified, different data
            ("ADV-0003", T0, T0 + timedelta(days=2), {"summary": "advisory 3"}),  # withdrawn
            advisory(4),
        ]
        assert store.upsert_advisories(changed) == UpsertCounts(1, 3, 0)
        record = store.get_advisory("ADV-0003")
        assert record is not None and record.withdrawn == T0 + timedelta(days=2)

    def test_unchanged_advisories_are_not_rewritten(self, store: Store, clock: Any) -> None:
        first = clock.now
        store.upsert_advisories([advisory(1), advisory(2)])
        later = clock.advance()
        store.upsert_advisories([advisory(1), advisory(2, severity="low")])
        stored = {a.id: a.imported_at for a in store.advisories()}
        assert stored == {"ADV-0001": first, "ADV-0002": later}

    def test_same_instant_in_another_zone_is_unchanged(self, store: Store) -> None:
        store.upsert_advisories([advisory(1)])
        elsewhere = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
        assert store.upsert_advisories([advisory(1, modified=elsewhere)]) == (0, 0, 1)
        record = store.get_advisory("ADV-0001")
        assert record is not None and record.modified == T0 and record.modified.tzinfo == UTC

    def test_upsert_over_several_batches(self, store: Store) -> None:
        count = CHUNK * 2 + 7
        assert store.upsert_advisories(advisory(n) for n in range(count)) == (count, 0, 0)
        mixed = [advisory(n, fixed=n % 2 == 0) for n in range(count)] + [advisory(count)]
        assert store.upsert_advisories(mixed) == (1, count, 0)
        assert len(store.advisories()) == count + 1

    def test_bad_advisory_late_in_the_input_stores_nothing(self, store: Store) -> None:
        naive = datetime(2024, 3, 1, 8, 30)
        records = [advisory(n) for n in range(CHUNK + 5)]
        records.append(("ADV-BAD", naive, None, {}))
        with pytest.raises(ValueError, match="naive datetime"):
            store.upsert_advisories(records)
        assert store.advisories() == []

    def test_advisory_data_must_be_json(self, store: Store) -> None:
        with pytest.raises(ValueError, match="advisory ADV-0001 cannot be stored as JSON"):
            store.upsert_advisories([advisory(1, score=float("nan"))])

    def test_unknown_advisory_is_none(self, store: Store) -> None:
        assert store.get_advisory("nope") is None

    # -- assessments ------------------------------------------------------------------

    def test_assessment_round_trip(self, store: Store, clock: Any) -> None:
        findings: list[dict[str, Any]] = [
            {
                "asset_id": "web1",
                "package": "openssl",
                "installed": "3.0.1",
                "fixed": "3.0.2",
                "advisory_id": "ADV-0001",
                "severity": "high",
                "decision": "patch",
                "reason": "internet facing",
                "extra": [1, 2],
            },
            {"asset_id": "web2", "package": "bash", "advisory_id": "ADV-0002"},
        ]
        assessment_id = store.record_assessment({"findings": 2}, findings)
        latest = store.latest_assessment()
        assert latest is not None
        assert (latest.id, latest.created_at, latest.summary) == (
            assessment_id,
            clock.now,
            {"findings": 2},
        )
        first, second = store.findings_for(assessment_id)
        assert (first.package, first.fixed, first.severity, first.data) == (
            "openssl",
            "3.0.2",
            "high",
            findings[0],
        )
        assert (second.installed, second.fixed, second.decision) == ("", None, "")

    def test_latest_assessment_is_the_last_recorded(self, store: Store) -> None:
        assert store.latest_assessment() is None
        first = store.record_assessment({"n": 1}, [])
        second = store.record_assessment({"n": 2}, [])
        latest = store.latest_assessment()
        assert second > first and latest is not None and latest.id == second
        assert store.findings_for(first) == []
        assert store.get_assessment(first) is not None and store.get_assessment(999) is None

    def test_malformed_finding_stores_nothing(self, store: Store) -> None:
        good = {"asset_id": "web1", "package": "bash", "advisory_id": "ADV-1"}
        with pytest.raises(ValueError, match="finding 1 lacks \\['advisory_id'\\]"):
            store.record_assessment({}, [good, {"asset_id": "web1", "package": "bash"}])
        assert store.latest_assessment() is None

    def test_assessed_packages_are_stored_once_per_distinct_set(self, store: Store) -> None:
        web = {"openssl": "3.0.1", "bash": "5.2"}
        same_in_another_order = {"bash": "5.2", "openssl": "3.0.1"}
        db = {"postgresql": "15.4"}
        packages = {"web1": web, "web2": same_in_another_order, "db1": db, "empty": {}}
        first = store.record_assessment({"n": 1}, [], packages)
        second = store.record_assessment({"n": 2}, [], {"web1": web, "db1": {"postgresql": "16"}})
        assert store.assessed_packages(first) == packages
        assert store.assessed_packages(second) == {"web1": web, "db1": {"postgresql": "16"}}
        assert store.get_assessment(first) is not None
        assert store.get_assessment(first).summary == {"n": 1}  # type: ignore[union-attr]  # checked just above
        with store.engine.connect() as connection:
            sets = connection.execute(text("SELECT count(*) FROM package_sets")).scalar_one()
        # web1 and web2 share one set in both assessments; db1's two, and the empty one.
        assert sets == 4

    def test_an_assessment_without_packages_has_none_stored(self, store: Store) -> None:
        ident = store.record_assessment({"packages": {"web1": {"bash": "5.2"}}}, [])
        assert store.assessed_packages(ident) is None
        assert store.assessed_packages(999) is None

    def test_a_bad_package_set_stores_nothing(self, store: Store) -> None:
        with pytest.raises(ValueError, match="packages of 'web1'"):
            store.record_assessment({}, [], {"web1": {"bash": 5}})  # type: ignore[dict-item]  # the bad input under test
        assert store.latest_assessment() is None


class TestSqliteData(DataConformance):
    @pytest.fixture
    def db_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestPostgresData(DataConformance):
    @pytest.fixture
    def db_url(self, postgres_url: str) -> str:
        return postgres_url
