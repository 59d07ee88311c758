"""The three ways an inventory can say how to reach HAProxy, each against the real one.

The traffic lab's HAProxy has an admin socket in its own directory and a TCP admin socket
on its frontend address. Through the first lab host's SSH connection (OpenSSH stream-local
forwarding) the socket is reached as on a load balancer host: the lab's sshd runs on this
machine and, for root, forwards from outside its ChrootDirectory, so the path is the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.haproxy import HaproxyDriver
from patchwarden.drivers.real import real_drivers
from patchwarden.testing.traffic import LB_ID, TrafficLab


def _drivers(traffic: TrafficLab, config: dict[str, Any]) -> tuple[HaproxyDriver, Any]:
    hosts = traffic.inventory()
    lb = LoadBalancer.model_validate(
        {
            "id": LB_ID,
            "kind": "load_balancer",
            "env": traffic.lab.config.env,
            "driver": "haproxy",
            "driver_config": config,
            "pools": [{"name": "web", "members": traffic.hosts}],
        }
    )
    assets = tuple(a for a in hosts.assets if a.id != LB_ID)
    real = real_drivers(Inventory(assets=(*assets, lb)), traffic.lab.ssh_config())
    driver = real.load_balancers[LB_ID]
    assert isinstance(driver, HaproxyDriver)
    return driver, real


@pytest.mark.parametrize(
    "how",
    ["socket", "address", "via_ssh"],
)
def test_each_way_to_the_runtime_api_drains_and_enables_for_real(
    traffic: TrafficLab, how: str
) -> None:
    config: dict[str, Any] = {
        "socket": {"socket": str(traffic.setup.socket)},
        "address": {"address": f"{traffic.setup.address}:{traffic.setup.admin_port}"},
        "via_ssh": {"via_ssh": traffic.hosts[0], "socket": str(traffic.setup.socket)},
    }[how]
    driver, real = _drivers(traffic, config)
    host = traffic.hosts[-1]
    try:
        assert traffic.loop.run(driver.state("web", host)) == "ready"
        traffic.loop.run(driver.drain("web", host))
        # What the drain did is seen by the lab's own driver, on the local socket.
        assert traffic.loop.run(traffic.driver().state("web", host)) == "drain"
        traffic.loop.run(driver.enable("web", host))
        assert traffic.loop.run(traffic.driver().state("web", host)) == "ready"
    finally:
        traffic.loop.run(traffic.driver().enable("web", host))
        traffic.loop.run(real.close())
    if how == "via_ssh":
        ssh = real.transport.transports["ssh"]
        assert ssh.connections_opened[traffic.hosts[0]] == 1, "one pooled SSH connection"
