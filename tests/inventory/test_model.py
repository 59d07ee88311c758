"""The asset model: every kind of the seed, with its own fields and references."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from patchwarden.domain.assets import Application, Kind, Pool, StorageAccount
from patchwarden.inventory import parse_inventory
from patchwarden.service.sources import demo_inventory


def test_demo_estate_has_every_kind_in_every_environment() -> None:
    inv = demo_inventory().inventory
    kinds = Counter(str(a.kind) for a in inv.assets)
    assert set(kinds) == {k.value for k in Kind}
    assert len(inv.assets) >= 60
    assert {a.env for a in inv.assets} == {"dev", "qa", "staging", "prod"}
    san = inv.get("san-01")
    assert {p.type for p in san.parts} == {"san_switch", "controller", "hba", "raid_controller"}  # type: ignore[attr-defined]  # wrong on purpose: the test checks it is refused


def test_hosting_is_a_synonym_of_service_model() -> None:
    app = Application(id="crm", kind="application", env="prod", hosting="saas")  # type: ignore[call-arg]  # wrong on purpose: the test checks it is refused
    assert app.service_model.value == "saas"


def test_assets_are_frozen() -> None:
    app = Application(id="crm", kind="application", env="prod")
    with pytest.raises(ValidationError):
        app.env = "dev"  # type: ignore[misc]  # wrong on purpose: the test checks it is refused


def test_storage_account_fields() -> None:
    acct = StorageAccount(
        id="logs",
        kind="storage_account",
        env="prod",
        storage_type="object",
        tier="archive",
        redundancy="geo",
        lifecycle=[{"after_days": 30, "action": "cool"}],  # type: ignore[list-item]  # wrong on purpose: the test checks it is refused
    )
    assert acct.encryption.at_rest and acct.encryption.in_transit
    with pytest.raises(ValidationError):
        StorageAccount(id="x", kind="storage_account", env="prod", storage_type="tape")  # type: ignore[arg-type]  # wrong on purpose: the test checks it is refused


def test_pool_members_include_blue_green_sides() -> None:
    pool = Pool.model_validate(
        {"name": "api", "members": ["a"], "blue_green": {"blue": ["b"], "green": ["g"]}}
    )
    assert pool.all_members() == ("a", "b", "g")


def test_anchors_and_merge_keys_work() -> None:
    text = (
        "assets:\n"
        "  - &base {id: a, kind: vm, env: prod, criticality: high}\n"
        "  - {<<: *base, id: b}\n"
    )
    inv = parse_inventory([("x.yaml", text)]).inventory
    assert inv.get("b").criticality.value == "high"
