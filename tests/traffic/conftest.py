"""The traffic tier: real HAProxy before six lab hosts, a load generator, the real engine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from patchwarden.testing.traffic import TrafficLab, shared_traffic_lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.lab)
            if os.geteuid() != 0:
                item.add_marker(
                    pytest.mark.skip(reason="the traffic lab needs root (make test runs as root)")
                )


@pytest.fixture(scope="session")
def traffic() -> Iterator[TrafficLab]:
    with shared_traffic_lab() as running:
        yield running
