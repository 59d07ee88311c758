"""Conformance of firmware, HA appliance pairs and redundant storage paths.

A keepalived appliance driver or a storage array's REST driver subclasses these with
fixtures only. Every test leaves the system as it found it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.run import Run
from patchwarden.drivers.protocols import ApplianceDriver, FirmwareDriver, StorageDriver
from patchwarden.errors import DriverError


@dataclass(frozen=True)
class FirmwareCase:
    """A target safe to flash now, a version it can take, and one that must not be flashed.

    ``in_service`` carries traffic (the active member of a pair, a part whose path is
    online); ``None`` when the driver has no such notion.
    """

    target: str
    new: str
    in_service: str | None = None


class FirmwareConformance:
    """Fixtures: ``run``, ``firmware_driver``, ``firmware_case``."""

    def test_firmware_reports_a_version(
        self, run: Run, firmware_driver: FirmwareDriver, firmware_case: FirmwareCase
    ) -> None:
        version = run(firmware_driver.firmware(firmware_case.target))
        assert version and version != firmware_case.new

    def test_flash_installs_the_version_and_back(
        self, run: Run, firmware_driver: FirmwareDriver, firmware_case: FirmwareCase
    ) -> None:
        c = firmware_case
        old = run(firmware_driver.firmware(c.target))
        run(firmware_driver.flash(c.target, c.new))
        try:
            assert run(firmware_driver.firmware(c.target)) == c.new
        finally:
            run(firmware_driver.flash(c.target, old))
        assert run(firmware_driver.firmware(c.target)) == old

    def test_flashing_the_running_version_changes_nothing(
        self, run: Run, firmware_driver: FirmwareDriver, firmware_case: FirmwareCase
    ) -> None:
        c = firmware_case
        old = run(firmware_driver.firmware(c.target))
        run(firmware_driver.flash(c.target, old))
        assert run(firmware_driver.firmware(c.target)) == old

    def test_a_target_in_service_is_not_flashed(
        self, run: Run, firmware_driver: FirmwareDriver, firmware_case: FirmwareCase
    ) -> None:
        busy = firmware_case.in_service
        if busy is None:
            pytest.skip("the driver has no target in service to protect")
        old = run(firmware_driver.firmware(busy))
        with pytest.raises(DriverError):
            run(firmware_driver.flash(busy, firmware_case.new))
        assert run(firmware_driver.firmware(busy)) == old, "a refused flash changes nothing"

    def test_unknown_target_is_a_driver_error(
        self, run: Run, firmware_driver: FirmwareDriver, firmware_case: FirmwareCase
    ) -> None:
        with pytest.raises(DriverError):
            run(firmware_driver.firmware("no-such-target"))
        with pytest.raises(DriverError):
            run(firmware_driver.flash("no-such-target", firmware_case.new))


@dataclass(frozen=True)
class ApplianceCase:
    """The two members of an HA pair, and an appliance without a peer (or ``None``)."""

    member: str
    peer: str
    single: str | None = None


class ApplianceConformance:
    """Fixtures: ``run``, ``appliance_driver``, ``appliance_case``."""

    def test_both_members_agree_which_one_is_active(
        self, run: Run, appliance_driver: ApplianceDriver, appliance_case: ApplianceCase
    ) -> None:
        c = appliance_case
        active = run(appliance_driver.active(c.member))
        assert active in (c.member, c.peer)
        assert run(appliance_driver.active(c.peer)) == active

    def test_failover_makes_the_standby_active_and_back(
        self, run: Run, appliance_driver: ApplianceDriver, appliance_case: ApplianceCase
    ) -> None:
        c = appliance_case
        first = run(appliance_driver.active(c.member))
        standby = c.peer if first == c.member else c.member
        run(appliance_driver.failover(standby))
        try:
            assert run(appliance_driver.active(c.member)) == standby
            assert run(appliance_driver.active(c.peer)) == standby
        finally:
            run(appliance_driver.failover(first))
        assert run(appliance_driver.active(c.member)) == first

    def test_failover_to_the_active_member_changes_nothing(
        self, run: Run, appliance_driver: ApplianceDriver, appliance_case: ApplianceCase
    ) -> None:
        c = appliance_case
        first = run(appliance_driver.active(c.member))
        run(appliance_driver.failover(first))
        assert run(appliance_driver.active(c.peer)) == first

    def test_an_appliance_without_a_peer_is_its_own_active_and_cannot_fail_over(
        self, run: Run, appliance_driver: ApplianceDriver, appliance_case: ApplianceCase
    ) -> None:
        single = appliance_case.single
        if single is None:
            pytest.skip("no appliance without a peer to try")
        assert run(appliance_driver.active(single)) == single
        with pytest.raises(DriverError):
            run(appliance_driver.failover(single))


@dataclass(frozen=True)
class StorageCase:
    """A storage system, one of its redundancy groups, and every part of that group."""

    system: str
    group: str
    parts: tuple[str, ...]


class StorageConformance:
    """Fixtures: ``run``, ``storage_driver``, ``storage_case``."""

    def test_a_healthy_group_has_every_path_online(
        self, run: Run, storage_driver: StorageDriver, storage_case: StorageCase
    ) -> None:
        c = storage_case
        total = len(c.parts)
        assert total >= 2, "the case needs a redundant group"
        assert run(storage_driver.redundancy(c.system, c.group)) == (total, total)

    def test_a_path_goes_out_and_back_and_redundancy_follows(
        self, run: Run, storage_driver: StorageDriver, storage_case: StorageCase
    ) -> None:
        c = storage_case
        total = len(c.parts)
        run(storage_driver.set_path(c.system, c.parts[0], False))
        try:
            assert run(storage_driver.redundancy(c.system, c.group)) == (total - 1, total)
            run(storage_driver.set_path(c.system, c.parts[0], False))  # idempotent
            assert run(storage_driver.redundancy(c.system, c.group)) == (total - 1, total)
        finally:
            run(storage_driver.set_path(c.system, c.parts[0], True))
        run(storage_driver.set_path(c.system, c.parts[0], True))  # idempotent
        assert run(storage_driver.redundancy(c.system, c.group)) == (total, total)

    def test_the_last_online_path_of_a_group_stays(
        self, run: Run, storage_driver: StorageDriver, storage_case: StorageCase
    ) -> None:
        c = storage_case
        *others, last = c.parts
        try:
            for part in others:
                run(storage_driver.set_path(c.system, part, False))
            with pytest.raises(DriverError):
                run(storage_driver.set_path(c.system, last, False))
            assert run(storage_driver.redundancy(c.system, c.group)) == (1, len(c.parts))
        finally:
            for part in others:
                run(storage_driver.set_path(c.system, part, True))
        assert run(storage_driver.redundancy(c.system, c.group)) == (len(c.parts), len(c.parts))

    def test_a_part_of_another_system_is_a_driver_error(
        self, run: Run, storage_driver: StorageDriver, storage_case: StorageCase
    ) -> None:
        c = storage_case
        with pytest.raises(DriverError):
            run(storage_driver.set_path("no-such-system", c.parts[0], False))
        with pytest.raises(DriverError):
            run(storage_driver.set_path(c.system, "no-such-part", False))
        assert run(storage_driver.redundancy(c.system, c.group)) == (len(c.parts), len(c.parts))
