"""The simulated estate against every driver conformance suite."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from conformance import (
    ApplianceCase,
    ApplianceConformance,
    Breakage,
    ClusterCase,
    ClusterConformance,
    FirmwareCase,
    FirmwareConformance,
    HealthCheckerConformance,
    HypervisorCase,
    HypervisorConformance,
    ImageCase,
    ImageConformance,
    MetricsCase,
    PackageCase,
    PackageDriverConformance,
    PowerDriverConformance,
    SnapshotCase,
    SnapshotConformance,
    StorageCase,
    StorageConformance,
    TrafficMetricsConformance,
)

from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.sim.platform import SimPlatform
from patchwarden.service.sources import demo_inventory
from patchwarden.testing import FailurePlan, SimEstate, sim_drivers

HOST = "web-dev-01"
PATCHED = "3.0.15-1~deb12u1"


@pytest.fixture
def run() -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return run_one


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return demo_inventory().inventory  # frozen: one parse serves every test


@pytest.fixture
def estate(inventory: Inventory) -> SimEstate:
    failures = FailurePlan(breaks_health=frozenset({HOST}))
    _, estate, _ = sim_drivers(inventory, failures=failures)
    return estate


class TestSimPackages(PackageDriverConformance):
    @pytest.fixture
    def package_driver(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def package_case(self, estate: SimEstate) -> PackageCase:
        return PackageCase(HOST, "openssl", estate.hosts[HOST].packages["openssl"], PATCHED)


class TestSimPower(PowerDriverConformance):
    @pytest.fixture
    def power_driver(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def power_host(self) -> str:
        return HOST


class TestSimHealth(HealthCheckerConformance):
    @pytest.fixture
    def health_checker(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def breakage(self, estate: SimEstate) -> Breakage:
        original = dict(estate.hosts[HOST].packages)
        return Breakage(
            HOST,
            breaks=lambda: asyncio.run(estate.install(HOST, {"openssl": PATCHED})),
            repairs=lambda: asyncio.run(estate.install(HOST, {"openssl": original["openssl"]})),
        )


class TestSimHypervisor(HypervisorConformance):
    @pytest.fixture
    def hypervisor_driver(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def hypervisor_case(self) -> HypervisorCase:
        return HypervisorCase(vm=HOST, destination="hv-dev-02")


class TestSimSnapshots(SnapshotConformance):
    @pytest.fixture
    def snapshot_driver(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def snapshot_case(self, estate: SimEstate) -> SnapshotCase:
        def state() -> tuple[tuple[tuple[str, str], ...], int]:
            host = estate.hosts[HOST]
            return tuple(sorted(host.packages.items())), host.boot

        def change() -> None:
            asyncio.run(estate.install(HOST, {"openssl": PATCHED}))
            asyncio.run(estate.reboot(HOST, 60))

        return SnapshotCase(HOST, state, change, unsupported="hv-dev-02")


class TestSimCluster(ClusterConformance):
    @pytest.fixture
    def cluster_driver(self, estate: SimEstate) -> SimPlatform:
        return estate.platform

    @pytest.fixture
    def cluster_case(self) -> ClusterCase:
        return ClusterCase(
            "pg-main", ("db-01", "db-02", "db-03"), {"postgresql-15": "15.6-0+deb12u1"}
        )


class TestSimApplianceFirmware(FirmwareConformance):
    """The standby of a firewall pair takes firmware; the active one refuses it."""

    @pytest.fixture
    def firmware_driver(self, estate: SimEstate) -> SimPlatform:
        return estate.platform

    @pytest.fixture
    def firmware_case(self) -> FirmwareCase:
        return FirmwareCase(target="fw-02", new="24.03", in_service="fw-01")


class TestSimStoragePartFirmware(FirmwareConformance):
    """A controller with its path offline takes firmware; its online twin refuses it."""

    @pytest.fixture
    def firmware_driver(self, estate: SimEstate) -> SimPlatform:
        asyncio.run(estate.platform.set_path("san-01", "san-01-ctl-a", False))
        return estate.platform

    @pytest.fixture
    def firmware_case(self) -> FirmwareCase:
        return FirmwareCase(target="san-01-ctl-a", new="9.14.1P2", in_service="san-01-ctl-b")


class TestSimAppliance(ApplianceConformance):
    @pytest.fixture
    def appliance_driver(self, estate: SimEstate) -> SimPlatform:
        return estate.platform

    @pytest.fixture
    def appliance_case(self) -> ApplianceCase:
        return ApplianceCase(member="fw-01", peer="fw-02", single="ids-01")


class TestSimStorage(StorageConformance):
    @pytest.fixture
    def storage_driver(self, estate: SimEstate) -> SimPlatform:
        return estate.platform

    @pytest.fixture
    def storage_case(self) -> StorageCase:
        return StorageCase("san-01", "controllers", ("san-01-ctl-a", "san-01-ctl-b"))


class TestSimImage(ImageConformance):
    @pytest.fixture
    def image_driver(self, estate: SimEstate) -> SimPlatform:
        return estate.platform

    @pytest.fixture
    def image_case(self) -> ImageCase:
        return ImageCase("img-debian12", "worker-prod-01", {"openssl": PATCHED})


class TestSimTrafficMetrics(TrafficMetricsConformance):
    @pytest.fixture
    def lb_driver(self, estate: SimEstate) -> Any:
        return estate.lb("lb-prod")

    @pytest.fixture
    def metrics(self, lb_driver: Any) -> Any:
        return lb_driver  # the simulated load balancer reports its own traffic

    @pytest.fixture
    def metrics_case(self) -> MetricsCase:
        return MetricsCase("web", "web-prod-01", window_s=60)

    @pytest.fixture
    def lb_sleep(self, estate: SimEstate) -> Any:
        return estate.clock.sleep  # virtual time moves only when waited for
