"""The appliance and firmware suites against a real keepalived pair (needs root).

Two HAProxy appliances in network namespaces share a virtual IP under keepalived VRRP
(:mod:`patchwarden.testing.lab_appliance`); fail-overs here move the address for real.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
import yaml
from conformance import ApplianceCase, ApplianceConformance, FirmwareCase, FirmwareConformance

from patchwarden.drivers.keepalived import KeepalivedPairs
from patchwarden.drivers.real import real_drivers
from patchwarden.drivers.registry import REGISTRY
from patchwarden.errors import DriverError
from patchwarden.inventory import parse_inventory
from patchwarden.testing.lab_appliance import AppliancePair

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the appliance lab needs root"),
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs keepalived"),
]


@pytest.fixture(scope="module")
def pair() -> Iterator[AppliancePair]:
    appliances = AppliancePair()
    appliances.up()
    try:
        yield appliances
    finally:
        appliances.down()


@pytest.fixture
def pairs(pair: AppliancePair) -> KeepalivedPairs:
    """The driver as a real run builds it: from the inventory, through the registry."""
    text = yaml.safe_dump({"assets": pair.assets()})
    inventory = parse_inventory([("lab.yaml", text)], drivers=REGISTRY).inventory
    built = real_drivers(inventory).appliances
    assert isinstance(built, KeepalivedPairs)
    return built


@pytest.fixture
def run() -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return run_one


class TestKeepalivedAppliance(ApplianceConformance):
    @pytest.fixture
    def appliance_driver(self, pairs: KeepalivedPairs) -> KeepalivedPairs:
        return pairs

    @pytest.fixture
    def appliance_case(self) -> ApplianceCase:
        return ApplianceCase(member="lb-a", peer="lb-b")


class TestKeepalivedFirmware(FirmwareConformance):
    """lb-a holds the address (in service); its standby lb-b takes the new release."""

    @pytest.fixture
    def firmware_driver(self, pairs: KeepalivedPairs, pair: AppliancePair) -> KeepalivedPairs:
        assert pair.holder() == "lb-a"
        return pairs

    @pytest.fixture
    def firmware_case(self) -> FirmwareCase:
        return FirmwareCase(target="lb-b", new="2.6-2", in_service="lb-a")


def test_a_flashed_standby_serves_its_new_release_and_an_unstaged_one_is_refused(
    pairs: KeepalivedPairs, pair: AppliancePair
) -> None:
    asyncio.run(pairs.flash("lb-b", "2.6-2"))
    try:
        assert pair.serving_release(1) == "lb-b release 2.6-2"
        with pytest.raises(DriverError, match="not staged"):
            asyncio.run(pairs.flash("lb-b", "9.9-9"))
        assert pair.serving_release(1) == "lb-b release 2.6-2", "a refused flash changes nothing"
    finally:
        asyncio.run(pairs.flash("lb-b", "2.6-1"))
    assert pair.serving_release(1) == "lb-b release 2.6-1"
