"""The cluster suite against a real etcd cluster: three etcd 3.4 members on lab roots.

The lab (``patchwarden.testing.lab_etcd``, needs root) runs three members of Debian's
``etcd-server`` on 127.0.7.2-4; the driver reaches them through etcd's JSON gateway.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import ClusterCase, ClusterConformance

from patchwarden.domain.steps import RejoinParams
from patchwarden.drivers.etcd import EtcdCluster, EtcdClusters, EtcdSettings
from patchwarden.drivers.real import RealClock
from patchwarden.engine.cluster_steps import rejoin
from patchwarden.engine.drivers import Drivers
from patchwarden.testing.lab_etcd import CLUSTER, EtcdLab, KeyLoad, shared_etcd_lab

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


def test_rejoin_waits_for_a_member_that_comes_back_late_and_catches_up(etcd: EtcdLab) -> None:
    """The engine's ``rejoin`` over the real driver: a member down while the others take
    writes is waited for, and counts as back only once it applied what the leader had."""
    etcd.put_back()
    leader = etcd.leader()
    late = next(m for m in etcd.members if m != leader)
    etcd.hold_down(late)
    writes = KeyLoad([etcd.endpoint(m) for m in etcd.members if m != late], interval_s=0.0)
    writes.start()
    time.sleep(1.0)
    assert writes.stop().failed == 0
    comes_back = threading.Timer(2.0, etcd.release, args=(late,))
    driver = _driver(etcd)
    drivers = Drivers(
        clock=RealClock(),
        packages=None,  # type: ignore[arg-type]  # a rejoin touches only the cluster
        power=None,  # type: ignore[arg-type]  # nor power
        health=None,  # type: ignore[arg-type]  # nor host health
        load_balancers={},
        clusters=driver,
    )

    async def wait() -> Any:
        try:
            return await rejoin(drivers, CLUSTER, RejoinParams(member=late), 60.0)
        finally:
            await driver.close()

    comes_back.start()
    try:
        done = run_one(wait())
    finally:
        comes_back.join()
        etcd.release(late)
    assert done["waited_s"] >= 1.5, done
    assert done["raft_index"] >= done["leader_index"] > 0, done
    etcd.wait_healthy()
