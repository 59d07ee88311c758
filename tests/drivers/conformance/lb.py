"""Conformance of load balancers (drain, weights, blue-green) and their traffic metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import RequestSample, TrafficMetrics
from patchwarden.errors import DriverError


@dataclass(frozen=True)
class LoadBalancerCase:
    """A pool with a member to take out and back, and a blue-green pool."""

    pool: str
    member: str
    blue_green_pool: str


class LoadBalancerConformance:
    """Fixtures: ``run``, ``lb_driver`` (a LoadBalancerDriver), ``lb_case``.

    ``drain_timeout_s`` bounds the wait for a drained member's sessions to reach 0.
    """

    drain_timeout_s = 30.0

    @pytest.fixture
    def lb_sleep(self) -> Callable[[float], Coroutine[Any, Any, None]]:
        """How to let the load balancer's time pass (a simulation's clock overrides it)."""
        return asyncio.sleep

    def _wait_drained(
        self, run: Run, lb: Any, pool: str, member: str, sleep: Callable[[float], Any]
    ) -> None:
        async def wait() -> int:
            waited = 0.0
            while (left := await lb.sessions(pool, member)) > 0:
                if waited > self.drain_timeout_s:
                    return int(left)
                await sleep(0.05)
                waited += 0.05
            return 0

        assert run(wait()) == 0, f"{member}: sessions left after {self.drain_timeout_s} s"

    def test_drain_then_sessions_reach_zero_then_enable(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase, lb_sleep: Any
    ) -> None:
        c = lb_case
        assert run(lb_driver.state(c.pool, c.member)) == "ready"
        run(lb_driver.drain(c.pool, c.member))
        try:
            assert run(lb_driver.state(c.pool, c.member)) == "drain"
            self._wait_drained(run, lb_driver, c.pool, c.member, lb_sleep)
        finally:
            run(lb_driver.enable(c.pool, c.member))
        assert run(lb_driver.state(c.pool, c.member)) == "ready"

    def test_drain_and_enable_are_idempotent(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase
    ) -> None:
        c = lb_case
        run(lb_driver.drain(c.pool, c.member))
        run(lb_driver.drain(c.pool, c.member))
        assert run(lb_driver.state(c.pool, c.member)) == "drain"
        run(lb_driver.enable(c.pool, c.member))
        run(lb_driver.enable(c.pool, c.member))
        assert run(lb_driver.state(c.pool, c.member)) == "ready"

    def test_weights_in_range_are_taken_and_others_refused(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase
    ) -> None:
        c = lb_case
        for weight in (0, 10, 256, 100):
            run(lb_driver.set_weight(c.pool, c.member, weight))
        for bad in (-1, 257):
            with pytest.raises(DriverError):
                run(lb_driver.set_weight(c.pool, c.member, bad))
        assert run(lb_driver.state(c.pool, c.member)) == "ready"

    def test_unknown_member_and_pool_are_driver_errors(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase
    ) -> None:
        with pytest.raises(DriverError):
            run(lb_driver.drain(lb_case.pool, "no-such-member"))
        with pytest.raises(DriverError):
            run(lb_driver.state("no-such-pool", lb_case.member))

    def test_switch_moves_all_traffic_and_flips_back(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase
    ) -> None:
        pool = lb_case.blue_green_pool
        first = run(lb_driver.active_side(pool))
        assert first in ("blue", "green")
        other = "blue" if first == "green" else "green"
        run(lb_driver.switch(pool, other))
        try:
            assert run(lb_driver.active_side(pool)) == other
            run(lb_driver.switch(pool, other))  # switching to the active side changes nothing
            assert run(lb_driver.active_side(pool)) == other
        finally:
            run(lb_driver.switch(pool, first))
        assert run(lb_driver.active_side(pool)) == first

    def test_bad_side_and_plain_pool_are_driver_errors(
        self, run: Run, lb_driver: Any, lb_case: LoadBalancerCase
    ) -> None:
        with pytest.raises(DriverError):
            run(lb_driver.switch(lb_case.blue_green_pool, "purple"))
        with pytest.raises(DriverError):
            run(lb_driver.active_side(lb_case.pool))


@dataclass(frozen=True)
class MetricsCase:
    """A member of a pool that serves traffic, and how long a window to read.

    The member must belong to ``pool`` both for the metrics and for the suite's
    ``lb_driver``, which takes it out of rotation in one test.
    """

    pool: str
    member: str
    window_s: float = 5.0


class TrafficMetricsConformance:
    """Fixtures: ``run``, ``metrics`` (a TrafficMetrics), ``metrics_case``, ``lb_driver``.

    ``lb_sleep`` (as in :class:`LoadBalancerConformance`) lets the load balancer's time pass.
    """

    drain_timeout_s = 30.0

    @pytest.fixture
    def lb_sleep(self) -> Callable[[float], Coroutine[Any, Any, None]]:
        """How to let the load balancer's time pass (a simulation's clock overrides it)."""
        return asyncio.sleep

    def test_a_serving_member_has_samples_that_make_sense(
        self, run: Run, metrics: TrafficMetrics, metrics_case: MetricsCase
    ) -> None:
        c = metrics_case
        run(metrics.watch())
        run(metrics.watch())  # watching twice is watching once
        samples = run(metrics.samples(c.pool, c.member, c.window_s))
        assert samples, f"{c.member} serves traffic, yet no request in {c.window_s} s"
        assert all(isinstance(s, RequestSample) for s in samples)
        assert all(s.latency_ms >= 0 for s in samples), "latency is never negative"
        assert any(s.ok for s in samples), "a healthy member answers most requests well"

    def test_a_longer_window_holds_at_least_as_many_requests(
        self, run: Run, metrics: TrafficMetrics, metrics_case: MetricsCase
    ) -> None:
        c = metrics_case
        short = run(metrics.samples(c.pool, c.member, c.window_s / 5))
        long = run(metrics.samples(c.pool, c.member, c.window_s))
        assert len(short) <= len(long)
        assert run(metrics.samples(c.pool, c.member, 0)) == [], "an empty window holds nothing"

    def test_unknown_member_and_pool_are_driver_errors(
        self, run: Run, metrics: TrafficMetrics, metrics_case: MetricsCase
    ) -> None:
        with pytest.raises(DriverError):
            run(metrics.samples(metrics_case.pool, "no-such-member", 1))
        with pytest.raises(DriverError):
            run(metrics.samples("no-such-pool", metrics_case.member, 1))

    def test_a_member_out_of_rotation_serves_no_new_requests(
        self,
        run: Run,
        metrics: TrafficMetrics,
        metrics_case: MetricsCase,
        lb_driver: Any,
        lb_sleep: Any,
    ) -> None:
        c = metrics_case

        async def drain_and_wait() -> None:
            await lb_driver.drain(c.pool, c.member)
            waited = 0.0
            while await lb_driver.sessions(c.pool, c.member) > 0:
                assert waited < self.drain_timeout_s, f"{c.member} never drained"
                await lb_sleep(0.1)
                waited += 0.1
            await lb_sleep(c.window_s / 5 + 0.5)  # requests answered before the drain age out

        run(drain_and_wait())
        try:
            assert run(metrics.samples(c.pool, c.member, c.window_s / 5)) == []
        finally:
            run(lb_driver.enable(c.pool, c.member))
