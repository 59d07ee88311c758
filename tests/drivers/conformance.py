"""Conformance suites: one base class per driver protocol, subclassed for each implementation.

A subclass provides the fixtures named in each class docstring; the tests then hold the
simulated estate and the real drivers (against the lab) to the same contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from patchwarden.drivers.protocols import HealthChecker, HealthResult, PackageDriver, PowerDriver
from patchwarden.errors import DriverError

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass(frozen=True)
class PackageCase:
    """A host, a package installed there at ``old``, and another available version ``new``."""

    host: str
    name: str
    old: str
    new: str


@dataclass(frozen=True)
class Breakage:
    """How to make a healthy host unhealthy, and how to repair it."""

    host: str
    breaks: Callable[[], None]
    repairs: Callable[[], None]


class PackageDriverConformance:
    """Fixtures: ``run``, ``package_driver``, ``package_case``."""

    def test_installed_reports_the_version(
        self, run: Run, package_driver: PackageDriver, package_case: PackageCase
    ) -> None:
        got = run(package_driver.installed(package_case.host, [package_case.name]))
        assert got == {package_case.name: package_case.old}

    def test_absent_packages_are_omitted(
        self, run: Run, package_driver: PackageDriver, package_case: PackageCase
    ) -> None:
        got = run(
            package_driver.installed(package_case.host, ["pw-no-such-package", package_case.name])
        )
        assert set(got) == {package_case.name}

    def test_install_sets_the_exact_version_up_and_back_down(
        self, run: Run, package_driver: PackageDriver, package_case: PackageCase
    ) -> None:
        c = package_case
        run(package_driver.install(c.host, {c.name: c.new}))
        assert run(package_driver.installed(c.host, [c.name])) == {c.name: c.new}
        run(package_driver.install(c.host, {c.name: c.old}))
        assert run(package_driver.installed(c.host, [c.name])) == {c.name: c.old}

    def test_installing_the_installed_version_changes_nothing(
        self, run: Run, package_driver: PackageDriver, package_case: PackageCase
    ) -> None:
        c = package_case
        run(package_driver.install(c.host, {c.name: c.old}))
        assert run(package_driver.installed(c.host, [c.name])) == {c.name: c.old}


class PowerDriverConformance:
    """Fixtures: ``run``, ``power_driver``, ``power_host``."""

    reboot_timeout_s = 60.0

    def test_boot_id_is_stable_between_reboots(
        self, run: Run, power_driver: PowerDriver, power_host: str
    ) -> None:
        first = run(power_driver.boot_id(power_host))
        assert first and run(power_driver.boot_id(power_host)) == first

    def test_reboot_returns_a_new_boot_id_that_the_host_then_reports(
        self, run: Run, power_driver: PowerDriver, power_host: str
    ) -> None:
        before = run(power_driver.boot_id(power_host))
        after = run(power_driver.reboot(power_host, self.reboot_timeout_s))
        assert after != before
        assert run(power_driver.boot_id(power_host)) == after

    def test_unknown_host_is_a_driver_error(self, run: Run, power_driver: PowerDriver) -> None:
        with pytest.raises(DriverError):
            run(power_driver.boot_id("no-such-host"))


class HealthCheckerConformance:
    """Fixtures: ``run``, ``health_checker``, ``breakage``."""

    def test_healthy_host_passes(
        self, run: Run, health_checker: HealthChecker, breakage: Breakage
    ) -> None:
        result = run(health_checker.check(breakage.host))
        assert isinstance(result, HealthResult)
        assert result.ok, result.detail

    def test_broken_host_fails_then_passes_once_repaired(
        self, run: Run, health_checker: HealthChecker, breakage: Breakage
    ) -> None:
        breakage.breaks()
        try:
            broken = run(health_checker.check(breakage.host))
            assert not broken.ok
            assert broken.detail, "a failed check says why"
        finally:
            breakage.repairs()
        assert run(health_checker.check(breakage.host)).ok


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
