"""The local transport against the transport conformance suite (SSH: test_conformance_lab)."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import TransportConformance

from patchwarden.drivers.transport import LocalTransport
from patchwarden.testing.lab_session import LoopThread


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


class TestLocalTransport(TransportConformance):
    @pytest.fixture
    def run(self, loop: LoopThread) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return loop.run(coro, 60)

        return run_one

    @pytest.fixture
    def transport(self) -> LocalTransport:
        return LocalTransport()

    @pytest.fixture
    def transport_host(self) -> str:
        return "here"
