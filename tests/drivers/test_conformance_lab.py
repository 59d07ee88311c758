"""The real drivers (SSH, apt, reboot by boot id, health checks) against the conformance suites,
on the lab's real hosts. Shares one lab with ``tests/lab`` through ``shared_lab``."""

from __future__ import annotations

import os
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import (
    Breakage,
    HealthCheckerConformance,
    PackageCase,
    PackageDriverConformance,
    PowerDriverConformance,
    TransportConformance,
)

from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.health import CheckRunner
from patchwarden.drivers.power import CommandPowerDriver
from patchwarden.drivers.real import RealDrivers
from patchwarden.drivers.ssh import SshTransport
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import TEST_LAB, LoopThread, lab_real_drivers, shared_lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (make test runs as root)"),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with shared_lab(TEST_LAB) as running:
        yield running


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def real(lab: Lab, loop: LoopThread) -> Iterator[RealDrivers]:
    drivers = lab_real_drivers(lab)
    yield drivers
    loop.run(drivers.close())


@pytest.fixture
def run(loop: LoopThread) -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run(coro)

    return run_one


class TestLabApt(PackageDriverConformance):
    @pytest.fixture
    def package_driver(self, real: RealDrivers) -> AptDriver:
        return real.packages

    @pytest.fixture
    def package_case(self, real: RealDrivers, loop: LoopThread) -> PackageCase:
        loop.run(real.packages.install("lab-01", {"pw-tool": "1.0-1"}))
        return PackageCase("lab-01", "pw-tool", "1.0-1", "1.0-2")


class TestLabPower(PowerDriverConformance):
    reboot_timeout_s = 30.0

    @pytest.fixture
    def power_driver(self, real: RealDrivers) -> CommandPowerDriver:
        return real.power

    @pytest.fixture
    def power_host(self) -> str:
        return "lab-02"


class TestLabHealth(HealthCheckerConformance):
    @pytest.fixture
    def health_checker(self, real: RealDrivers) -> CheckRunner:
        return real.health

    @pytest.fixture
    def breakage(self, real: RealDrivers, loop: LoopThread) -> Breakage:
        host = "lab-04"
        loop.run(real.packages.install(host, {"pw-web": "1.0-1"}))
        return Breakage(
            host,
            breaks=lambda: loop.run(real.packages.install(host, {"pw-web": "1.0-3"})),
            repairs=lambda: loop.run(real.packages.install(host, {"pw-web": "1.0-1"})),
        )


class TestLabSshTransport(TransportConformance):
    """Commands reach a real OpenSSH server inside a lab host's chroot, as a string a
    remote shell reads: the suite shows quoting keeps every argument verbatim."""

    @pytest.fixture
    def transport(self, lab: Lab, loop: LoopThread) -> Iterator[SshTransport]:
        ssh = SshTransport({s.id: lab.connection(s) for s in lab.specs()}, lab.ssh_config())
        yield ssh
        loop.run(ssh.close())

    @pytest.fixture
    def transport_host(self) -> str:
        return "lab-03"
