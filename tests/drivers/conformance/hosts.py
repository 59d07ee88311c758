"""Conformance of host drivers: packages, power (reboot by boot id) and health checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import HealthChecker, HealthResult, PackageDriver, PowerDriver
from patchwarden.errors import DriverError


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
