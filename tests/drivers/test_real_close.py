"""RealDrivers.close closes every driver it built, once, and the pooled connections last."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from patchwarden.domain.assets import Connection, LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.haproxy import HaproxyDriver
from patchwarden.drivers.real import RealDrivers, real_drivers
from patchwarden.drivers.traffic import HaproxyLogMetrics


class Recorder:
    """A driver whose close is recorded (plain or coroutine, failing or not)."""

    def __init__(self, name: str, log: list[str], *, coroutine: bool = True, fails: bool = False):
        self.name, self.log, self.coroutine, self.fails = name, log, coroutine, fails

    def close(self) -> Any:
        def record() -> None:
            self.log.append(self.name)
            if self.fails:
                raise RuntimeError(f"{self.name} would not close")

        if not self.coroutine:
            return record()

        async def closing() -> None:
            record()

        return closing()


def _bundle(log: list[str], **overrides: Any) -> RealDrivers:
    real = real_drivers(Inventory(assets=()))
    transport = real.transport

    async def close_transport() -> None:
        log.append("transport")

    transport.close = close_transport  # type: ignore[method-assign]  # records, closes nothing
    pairs = Recorder("keepalived", log, coroutine=False)
    real.hypervisors = Recorder("libvirt", log)  # type: ignore[assignment]  # a recorder in a driver's slot
    real.clusters = Recorder("etcd", log)  # type: ignore[assignment]  # a recorder in a driver's slot
    real.appliances = pairs  # type: ignore[assignment]  # a recorder in a driver's slot
    real.firmware = pairs  # type: ignore[assignment]  # one object in two slots
    real.images = Recorder("rootfs", log, coroutine=False)  # type: ignore[assignment]  # a recorder in a driver's slot
    real.storage = Recorder("ontap", log)  # type: ignore[assignment]  # a recorder in a driver's slot
    real.load_balancers = {"lb-01": Recorder("haproxy", log)}  # type: ignore[dict-item]  # a recorder in a driver's slot
    real.metrics = {"lb-01": Recorder("haproxy-log", log, coroutine=False)}  # type: ignore[dict-item]  # a recorder in a driver's slot
    real.packages.apps["shop"] = Recorder("venv", log)  # type: ignore[assignment]  # a recorder in a driver's slot
    for name, value in overrides.items():
        setattr(real, name, value)
    return real


def test_close_closes_every_driver_once_and_the_transport_last() -> None:
    log: list[str] = []
    asyncio.run(_bundle(log).close())
    assert sorted(log[:-1]) == sorted(
        ["libvirt", "etcd", "keepalived", "rootfs", "ontap", "haproxy", "haproxy-log", "venv"]
    )
    assert log[-1] == "transport"


def test_one_driver_failing_to_close_does_not_keep_the_others_open() -> None:
    log: list[str] = []
    real = _bundle(log, clusters=Recorder("etcd", log, fails=True))
    with pytest.raises(RuntimeError, match="etcd would not close"):
        asyncio.run(real.close())
    assert {"libvirt", "ontap", "rootfs", "transport"} <= set(log)


def test_a_real_haproxy_log_listener_is_freed_by_close() -> None:
    inventory = Inventory(
        assets=(
            LoadBalancer.model_validate(
                {
                    "id": "lb-01",
                    "kind": "load_balancer",
                    "env": "dev",
                    "connection": Connection(transport="local"),
                    "pools": [{"name": "web", "members": []}],
                    "driver": "haproxy",
                    "driver_config": {
                        "address": "127.0.0.1:1",
                        "pools": {"web": {"backend": "web_be", "metrics": {"log": "127.0.0.1:0"}}},
                    },
                }
            ),
        )
    )
    real = real_drivers(inventory)
    assert isinstance(real.load_balancers["lb-01"], HaproxyDriver)
    metrics = real.metrics["lb-01"]
    assert isinstance(metrics, HaproxyLogMetrics) and metrics.listener is not None
    asyncio.run(metrics.watch())
    assert metrics.listener.listening
    asyncio.run(real.close())
    assert not metrics.listener.listening
