"""Drivers registered by name through entry points: built-ins and a third party's alike."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.haproxy import HaproxyDriver
from patchwarden.drivers.real import RealClock, real_drivers
from patchwarden.drivers.registry import (
    ENTRY_POINT_GROUP,
    REGISTRY,
    DriverContext,
    DriverKind,
    DriverRegistry,
    DriverSpec,
)
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import DriverError, ValidationFailed
from patchwarden.service.sources import read_inventory

ROOT = Path(__file__).parent.parent.parent


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared: dict[str, str] = project["entry-points"][ENTRY_POINT_GROUP]
    return declared


def test_installed_metadata_carries_every_entry_point_pyproject_declares() -> None:
    # A stale editable install (pyproject changed, not reinstalled) fails here, by name.
    installed = {e.name: e.value for e in entry_points(group=ENTRY_POINT_GROUP)}
    for name, value in _declared().items():
        assert installed.get(name) == value, (
            f"{name} is not installed: reinstall patchwarden (`make .venv/.installed-stamp`)"
        )


@pytest.mark.parametrize("name", sorted(_declared()))
def test_each_built_in_entry_point_is_the_spec_it_is_named_after(name: str) -> None:
    kind, _, driver = name.partition(".")
    spec = REGISTRY.spec(kind, driver)
    assert isinstance(spec, DriverSpec)
    assert (spec.kind.value, spec.name) == (kind, driver)
    assert spec.config.model_config.get("extra") == "forbid", "unknown keys must be refused"
    assert spec.kind in DriverKind


def test_unknown_names_list_what_is_registered() -> None:
    assert REGISTRY.find("load_balancer", "f5") is None
    with pytest.raises(DriverError, match=r"known: haproxy, sim"):
        REGISTRY.spec("load_balancer", "f5")


def test_an_entry_point_that_is_not_a_spec_is_refused() -> None:
    from importlib.metadata import EntryPoint

    bogus = EntryPoint("load_balancer.bogus", "patchwarden.drivers.haproxy:HaproxyDriver", "g")
    registry = DriverRegistry(source=lambda: [bogus])
    with pytest.raises(DriverError, match="is not the DriverSpec"):
        registry.find("load_balancer", "bogus")


def test_sim_drivers_validate_but_cannot_be_built_for_real() -> None:
    spec = REGISTRY.spec("appliance", "sim")
    assert spec.factory is None
    context = DriverContext(Inventory(assets=()), None, LocalTransport(), RealClock())
    with pytest.raises(DriverError, match="only runs simulated"):
        spec.build({}, context)


THIRD_PARTY = '''
"""A third party's load balancer driver, installed as its own distribution."""
from pydantic import BaseModel, ConfigDict

from patchwarden.drivers.registry import DriverKind, DriverSpec


class AcmeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    endpoint: str
    partition: str = "Common"


class AcmeBalancer:
    def __init__(self, settings, lb_id):
        self.settings, self.lb_id, self.calls = settings, lb_id, []

    async def drain(self, pool, member):
        self.calls.append(("drain", pool, member))

    async def enable(self, pool, member):
        self.calls.append(("enable", pool, member))


DRIVER = DriverSpec(
    DriverKind.LOAD_BALANCER,
    "acme",
    AcmeSettings,
    lambda settings, context: AcmeBalancer(settings, context.asset.id),
)
'''


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny distribution on sys.path with its own dist-info and entry_points.txt."""
    site = tmp_path / "site"
    (site / "acme_lb").mkdir(parents=True)
    (site / "acme_lb" / "__init__.py").write_text(THIRD_PARTY)
    info = site / "acme_lb-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-lb\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nload_balancer.acme = acme_lb:DRIVER\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("acme_lb", None)


def _inventory(tmp_path: Path, driver_config: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            assets:
              - id: web-01
                kind: vm
                env: prod
              - id: lb-01
                kind: load_balancer
                env: prod
                driver: acme
                driver_config: {driver_config}
                pools: [{{name: web, members: [web-01]}}]
            """
        )
    )
    return path


def test_a_third_party_driver_registers_through_its_entry_point(
    acme_installed: Path, tmp_path: Path
) -> None:
    registry = DriverRegistry()  # reads entry points afresh, as the CLI does
    assert "acme" in registry.names("load_balancer")
    assert "acme_lb" not in sys.modules, "listing names imports nothing"
    loaded = read_inventory([_inventory(tmp_path, "{endpoint: 'https://bigip.example'}")])
    lb = loaded.inventory.get("lb-01")
    assert isinstance(lb, LoadBalancer) and lb.driver == "acme"
    driver = real_drivers(loaded.inventory).load_balancers["lb-01"]
    assert type(driver).__name__ == "AcmeBalancer" and not isinstance(driver, HaproxyDriver)
    assert driver.settings.endpoint == "https://bigip.example"  # type: ignore[attr-defined]  # the third party's own type


def test_a_third_party_config_is_validated_like_any_field(
    acme_installed: Path, tmp_path: Path
) -> None:
    path = _inventory(tmp_path, "{partition: 7}")
    with pytest.raises(ValidationFailed) as failed:
        read_inventory([path])
    assert [str(p) for p in failed.value.problems] == [
        f"{path}:9: assets[1].driver_config.endpoint: required field missing (hint: add `endpoint:`)",
        f"{path}:9: assets[1].driver_config.partition: Input should be a valid string (got 7) "
        "(hint: quote the value to make it text)",
    ]


def test_without_the_distribution_the_name_is_unknown(tmp_path: Path) -> None:
    path = _inventory(tmp_path, "{endpoint: x}")
    with pytest.raises(ValidationFailed, match=r"unknown load_balancer driver 'acme'"):
        read_inventory([path])
