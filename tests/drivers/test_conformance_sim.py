"""The simulated estate against the driver conformance suites."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from conformance import (
    Breakage,
    HealthCheckerConformance,
    PackageCase,
    PackageDriverConformance,
    PowerDriverConformance,
)

from patchwarden.testing import FailurePlan, SimEstate, sim_drivers

HOST = "web-dev-01"


@pytest.fixture
def run() -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return run_one


@pytest.fixture
def estate() -> SimEstate:
    _, estate, _ = sim_drivers(failures=FailurePlan(breaks_health=frozenset({HOST})))
    return estate


class TestSimPackages(PackageDriverConformance):
    @pytest.fixture
    def package_driver(self, estate: SimEstate) -> SimEstate:
        return estate

    @pytest.fixture
    def package_case(self, estate: SimEstate) -> PackageCase:
        return PackageCase(
            HOST, "openssl", estate.hosts[HOST].packages["openssl"], "3.0.15-1~deb12u1"
        )


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
            breaks=lambda: asyncio.run(estate.install(HOST, {"openssl": "3.0.15-1~deb12u1"})),
            repairs=lambda: asyncio.run(estate.install(HOST, {"openssl": original["openssl"]})),
        )
