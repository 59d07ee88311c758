"""The load-balancer and traffic-metrics suites against the simulated LB and a real HAProxy.

The real one runs in the traffic lab (six lab hosts behind HAProxy, needs root): draining,
waiting for sessions, weights and blue-green switching all go through HAProxy's runtime
API on its stats socket, while a load generator keeps requests in flight; the metrics are
HAProxy's own request log, received over syslog.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from conformance import (
    LoadBalancerCase,
    LoadBalancerConformance,
    MetricsCase,
    TrafficMetricsConformance,
)

from patchwarden.domain.assets import LoadBalancer
from patchwarden.drivers.haproxy import HaproxyConfig, HaproxyDriver
from patchwarden.drivers.traffic import HaproxyLogMetrics
from patchwarden.testing import sim_drivers
from patchwarden.testing.traffic import TrafficLab, shared_traffic_lab
from patchwarden.testing.traffic_load import LoadProcess


class TestSimLoadBalancer(LoadBalancerConformance):
    @pytest.fixture
    def run(self) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return asyncio.run(coro)

        return run_one

    @pytest.fixture
    def lb_driver(self) -> Any:
        drivers, _, _ = sim_drivers()
        return drivers.load_balancers["lb-prod"]

    @pytest.fixture
    def lb_case(self) -> LoadBalancerCase:
        return LoadBalancerCase("web", "web-prod-01", "api")

    @pytest.fixture
    def lb_sleep(self, lb_driver: Any) -> Any:
        return lb_driver.timing.clock.sleep  # virtual time moves only when waited for


@pytest.fixture(scope="module")
def traffic() -> Iterator[TrafficLab]:
    with shared_traffic_lab() as running:
        running.reset()
        load = LoadProcess(running.setup.address, running.setup.web_port, concurrency=16)
        load.start()  # requests in flight while servers are drained
        try:
            yield running
        finally:
            load.stop()


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="the traffic lab needs root (make test runs as root)")
class TestHaproxyLoadBalancer(LoadBalancerConformance):
    @pytest.fixture
    def run(self, traffic: TrafficLab) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return traffic.loop.run(coro, 60)

        return run_one

    @pytest.fixture
    def lb_driver(self, traffic: TrafficLab) -> HaproxyDriver:
        # One load balancer with a plain pool and a blue-green pool over the same hosts.
        blue, green = traffic.setup.sides()
        lb = LoadBalancer.model_validate({
            "id": "lb-conformance", "kind": "load_balancer", "env": "dev", "driver": "haproxy",
            "driver_config": {"socket": str(traffic.setup.socket), "pools": {
                "web": {"backend": "web"},
                "bg": {"map": str(traffic.setup.map_file), "key": "web",
                       "blue": "web_blue", "green": "web_green"}}},
            "pools": [{"name": "web", "members": traffic.hosts},
                      {"name": "bg", "blue_green": {"blue": list(blue), "green": list(green)}}],
        })  # fmt: skip
        return HaproxyDriver(HaproxyConfig.from_asset(lb))

    @pytest.fixture
    def lb_case(self) -> LoadBalancerCase:
        return LoadBalancerCase("web", "lab-02", "bg")


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="the traffic lab needs root (make test runs as root)")
class TestHaproxyLogMetrics(TrafficMetricsConformance):
    @pytest.fixture
    def run(self, traffic: TrafficLab) -> Any:
        def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
            return traffic.loop.run(coro, 60)

        return run_one

    @pytest.fixture
    def lb_driver(self, traffic: TrafficLab) -> HaproxyDriver:
        return traffic.driver()

    @pytest.fixture
    def metrics(self, traffic: TrafficLab) -> HaproxyLogMetrics:
        return HaproxyLogMetrics(traffic.log, traffic.lb_config())

    @pytest.fixture
    def metrics_case(self) -> MetricsCase:
        return MetricsCase("web", "lab-03", window_s=5)
