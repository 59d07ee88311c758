"""Health checks (HTTP status and body, TCP, command) follow what is installed on a host."""

from __future__ import annotations

from collections.abc import Callable

from patchwarden.domain.assets import HealthCheck
from patchwarden.drivers.health import CheckRunner
from patchwarden.drivers.real import RealDrivers
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread


def test_breaking_update_fails_every_kind_of_check_and_downgrade_restores(
    lab: Lab, real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-04")
    healthy = loop.run(real.health.check("lab-04"))
    assert healthy.ok, healthy.detail
    assert "-> 200" in healthy.detail and "open" in healthy.detail and "exited 0" in healthy.detail
    loop.run(real.packages.install("lab-04", {"pw-web": "1.0-3"}))
    broken = loop.run(real.health.check("lab-04"))
    assert not broken.ok
    assert "-> 500" in broken.detail and "exited 1" in broken.detail
    loop.run(real.packages.install("lab-04", {"pw-web": "1.0-1"}))
    assert loop.run(real.health.check("lab-04")).ok


def test_each_check_type_on_its_own(lab: Lab, real: RealDrivers, loop: LoopThread) -> None:
    spec = lab.host("lab-04")
    base = f"{spec.address}:{spec.http_port}"

    def one(check: HealthCheck) -> bool:
        return loop.run(CheckRunner({"lab-04": (check,)}, real.transport).check("lab-04")).ok

    assert one(HealthCheck(type="http", target=f"http://{base}/healthz", expect_body="pw-web"))
    assert not one(HealthCheck(type="http", target=f"http://{base}/healthz", expect_body="nope"))
    assert not one(HealthCheck(type="http", target=f"http://{base}/missing"))
    assert one(HealthCheck(type="http", target=f"http://{base}/missing", expect_status=404))
    assert one(HealthCheck(type="tcp", target=base))
    assert not one(HealthCheck(type="tcp", target=f"{spec.address}:1", timeout_s=2))
    assert one(HealthCheck(type="command", target="test -x /usr/bin/pw-tool"))
    assert not one(HealthCheck(type="command", target="test -e '/no such file'"))
