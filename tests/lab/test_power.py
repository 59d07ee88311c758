"""Reboots through the lab's reboot path, confirmed by a new boot id; a host that stays down."""

from __future__ import annotations

import time

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.errors import DriverError
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread


def test_reboot_waits_for_a_new_boot_id_and_services_return(
    lab: Lab, real: RealDrivers, loop: LoopThread
) -> None:
    before = loop.run(real.power.boot_id("lab-02"))
    started = time.monotonic()
    after = loop.run(real.power.reboot("lab-02", 30))
    took = time.monotonic() - started
    assert after != before
    assert took >= lab.config.reboot_pause_s, "the host really went away"
    assert (lab.host("lab-02").root / "etc/lab-boot-id").read_text().strip() == after
    assert loop.run(real.health.check("lab-02")).ok, "services are back"


def test_host_that_never_returns_times_out_with_driver_error(
    lab: Lab, real: RealDrivers, loop: LoopThread
) -> None:
    before = loop.run(real.power.boot_id("lab-03"))
    lab.set_never_returns("lab-03")
    try:
        started = time.monotonic()
        with pytest.raises(DriverError, match="did not come back"):
            loop.run(real.power.reboot("lab-03", 4))
        assert 4 <= time.monotonic() - started < 15
        health = loop.run(real.health.check("lab-03"))
        assert not health.ok and "tcp" in health.detail
    finally:
        lab.set_never_returns("lab-03", False)
        lab.power_on("lab-03")
    assert loop.run(real.power.boot_id("lab-03")) != before
