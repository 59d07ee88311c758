"""The shared-responsibility table: golden cases from the seed, and the table's shape."""

from __future__ import annotations

import pytest

from patchwarden.domain.assets import (
    Application,
    Hypervisor,
    Kind,
    Layer,
    ServiceModel,
    StorageSystem,
    Vm,
)
from patchwarden.domain.responsibility import KIND_LAYERS, RESPONSIBILITY, responsibility_of

CAP = {"vcpus": 8, "memory_gb": 32}


@pytest.mark.parametrize(
    ("asset", "owner"),
    [
        (Application(id="a", kind="application", env="prod", service_model="saas"), "provider"),
        (Application(id="a", kind="application", env="prod", service_model="paas"), "customer"),
        (Application(id="a", kind="application", env="prod", service_model="iaas"), "customer"),
        (
            Hypervisor(id="h", kind="hypervisor", env="prod", service_model="iaas", capacity=CAP),
            "provider",
        ),
        (
            Hypervisor(
                id="h", kind="hypervisor", env="prod", service_model="bare_metal", capacity=CAP
            ),
            "customer",
        ),
        (
            Hypervisor(
                id="h", kind="hypervisor", env="prod", service_model="on_prem", capacity=CAP
            ),
            "customer",
        ),
        (Vm(id="v", kind="vm", env="prod", service_model="iaas"), "customer"),
        (Vm(id="v", kind="vm", env="prod", service_model="paas"), "provider"),
        (
            StorageSystem(
                id="s",
                kind="storage_system",
                env="prod",
                service_model="iaas",
                parts=[{"id": "c", "type": "controller", "firmware": "1", "redundancy_group": "g"}],
            ),
            "provider",
        ),
        (
            StorageSystem(
                id="s",
                kind="storage_system",
                env="prod",
                service_model="on_prem",
                parts=[{"id": "c", "type": "controller", "firmware": "1", "redundancy_group": "g"}],
            ),
            "customer",
        ),
    ],
    ids=lambda v: getattr(v, "service_model", v) if not isinstance(v, str) else v,
)
def test_owner(asset: object, owner: str) -> None:
    assert responsibility_of(asset).owner.value == owner


def test_paas_application_reason_names_the_provider_layers_below() -> None:
    app = Application(id="api", kind="application", env="prod", service_model="paas")
    reason = responsibility_of(app).reason
    assert reason == (
        "application layer under paas is the customer's (beneath it runtime: provider, os: provider)"
    )


def test_table_is_complete() -> None:
    for model in ServiceModel:
        assert set(RESPONSIBILITY[model]) == set(Layer), model
    assert set(KIND_LAYERS) == set(Kind)
    # Data is the customer's under every model: the one constant of the model.
    assert {RESPONSIBILITY[m][Layer.DATA].value for m in ServiceModel} == {"customer"}


def test_inventory_show_owner_provider(capsys: pytest.CaptureFixture[str]) -> None:
    from patchwarden.cli.main import main

    assert main(["inventory", "show", "--demo", "--owner", "provider", "--format", "json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == {"cloud-host-pool", "mail", "crm"}
    assert all(r["owner"] == "provider" and "provider's" in r["why"] for r in rows)
