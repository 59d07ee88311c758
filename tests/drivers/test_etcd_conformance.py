"""The cluster suite against a real etcd cluster: three etcd 3.4 members on lab roots.

The lab (``patchwarden.testing.lab_etcd``, needs root) runs three members of Debian's
``etcd-server`` on 127.0.7.2-4; the driver reaches them through etcd's JSON gateway.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import ClusterCase, ClusterConformance

from patchwarden.drivers.etcd import EtcdCluster, EtcdClusters, EtcdSettings
from patchwarden.testing.lab_etcd import CLUSTER, EtcdLab, shared_etcd_lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="the etcd lab needs root (make test runs as root)"
    ),
]


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdLab]:
    with shared_etcd_lab() as running:
        yield running


def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _driver(lab: EtcdLab) -> EtcdClusters:
    endpoints = {m: lab.endpoint(m) for m in lab.members}
    return EtcdClusters.of([EtcdCluster(CLUSTER, EtcdSettings(endpoints=endpoints))])


class TestEtcdCluster(ClusterConformance):
    @pytest.fixture
    def cluster_driver(self, etcd: EtcdLab) -> EtcdClusters:
        etcd.put_back()
        return _driver(etcd)

    @pytest.fixture
    def run(self, cluster_driver: EtcdClusters) -> Any:
        # A loop per call: the driver's HTTP client is closed with it.
        def one(coro: Coroutine[Any, Any, Any]) -> Any:
            async def closing() -> Any:
                try:
                    return await coro
                finally:
                    await cluster_driver.close()

            return run_one(closing())

        return one

    @pytest.fixture
    def cluster_case(self, etcd: EtcdLab) -> ClusterCase:
        return ClusterCase(CLUSTER, tuple(etcd.members))


def test_a_stopped_member_is_unhealthy_and_quorum_then_forbids_another(etcd: EtcdLab) -> None:
    etcd.put_back()
    driver = _driver(etcd)
    leader = etcd.leader()
    down = next(m for m in etcd.members if m != leader)
    etcd.hold_down(down)

    async def read() -> Any:
        try:
            return await driver.status(CLUSTER)
        finally:
            await driver.close()

    try:
        status = run_one(read())
        assert status.member(down) is not None and not status.member(down).healthy
        assert status.leader == leader and status.quorum == 2
        assert status.survives_without(down)
        assert not any(status.survives_without(m) for m in status.healthy)
    finally:
        etcd.release(down)
    etcd.wait_healthy()
