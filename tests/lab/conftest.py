"""The lab tier: real sshd, apt and dpkg in chroots on loopback addresses (needs root)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import TEST_LAB, LoopThread, lab_real_drivers, shared_lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.lab)
            if os.geteuid() != 0:
                item.add_marker(
                    pytest.mark.skip(reason="the lab needs root (make test runs as root)")
                )


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with shared_lab(TEST_LAB) as running:
        yield running


@pytest.fixture(scope="session")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def real(lab: Lab, loop: LoopThread) -> Iterator[RealDrivers]:
    """Fresh real drivers for one test (their own SSH pool), closed afterwards."""
    drivers = lab_real_drivers(lab)
    yield drivers
    loop.run(drivers.close())


@pytest.fixture
def reset(real: RealDrivers, loop: LoopThread) -> Callable[..., None]:
    """Put hosts back to the lab's starting versions: tests must not depend on their order."""

    def put_back(*hosts: str) -> None:
        for host in hosts:
            loop.run(real.packages.install(host, INITIAL))

    return put_back
