"""The apt driver over SSH against real dpkg and apt in the lab's chroots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.errors import DriverError, HeldPackageError
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import LoopThread


def test_scan_reads_packages_release_arch_and_reboot_state_of_every_host(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    hosts = [s.id for s in lab.specs()]
    reset("lab-01")

    async def scan_all():
        return await asyncio.gather(*(real.apt.scan(h) for h in hosts))

    for facts in loop.run(scan_all()):
        assert facts.packages["pw-web"] and facts.packages["pw-tool"]
        assert facts.packages["dpkg"].startswith("1.21"), "real dpkg of bookworm"
        assert len(facts.packages) > 80
        assert facts.os_release["ID"] == "debian" and facts.os_release["VERSION_ID"] == "12"
        assert facts.arch
    assert loop.run(real.packages.installed("lab-01", list(INITIAL))) == INITIAL
    # scanning many hosts reuses one connection per host
    assert set(real.transport.transports["ssh"].connections_opened.values()) == {1}


def test_install_exact_version_then_downgrade_back(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-01")
    apt = real.apt
    loop.run(apt.install("lab-01", {"pw-web": "1.0-2"}))
    assert loop.run(apt.installed("lab-01", ["pw-web"])) == {"pw-web": "1.0-2"}
    assert apt.history[-1].before == {"pw-web": "1.0-1"}, "pre-patch versions are recorded"
    loop.run(apt.install("lab-01", apt.history[-1].before))  # rollback = downgrade to them
    assert loop.run(apt.installed("lab-01", ["pw-web"])) == {"pw-web": "1.0-1"}


def test_held_packages_are_never_changed(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-01")
    run = real.transport.run
    assert loop.run(run("lab-01", ["apt-mark", "hold", "pw-tool"])).ok
    try:
        assert loop.run(real.apt.holds("lab-01")) == {"pw-tool"}
        with pytest.raises(HeldPackageError, match="apt-mark unhold pw-tool"):
            loop.run(real.packages.install("lab-01", {"pw-web": "1.0-2", "pw-tool": "1.0-2"}))
        assert loop.run(real.packages.installed("lab-01", ["pw-web", "pw-tool"])) == {
            "pw-web": "1.0-1",
            "pw-tool": "1.0-1",
        }, "nothing at all changed"
        # a held package already at its target is no change, so the rest may go ahead
        loop.run(real.packages.install("lab-01", {"pw-tool": "1.0-1", "pw-web": "1.0-2"}))
    finally:
        loop.run(run("lab-01", ["apt-mark", "unhold", "pw-tool"]))
        reset("lab-01")


def test_unknown_version_fails_with_apts_reason(real: RealDrivers, loop: LoopThread) -> None:
    with pytest.raises(DriverError, match="9.9-9"):
        loop.run(real.packages.install("lab-01", {"pw-web": "9.9-9"}))


def test_reboot_required_is_detected_with_the_packages_that_asked(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-02")
    loop.run(real.power.reboot("lab-02", 30))  # a fresh boot: /run is empty
    assert not loop.run(real.apt.reboot_required("lab-02")).required
    loop.run(real.packages.install("lab-02", {"pw-kernel": "1.0-2"}))
    state = loop.run(real.apt.reboot_required("lab-02"))
    assert state.required and state.packages == ("pw-kernel",)
    loop.run(real.power.reboot("lab-02", 30))
    assert not loop.run(real.apt.reboot_required("lab-02")).required
    reset("lab-02")
