"""The traffic lab: real HAProxy in front of six lab hosts, a load generator, real drivers.

Six lab hosts (their own lab, apart from the test lab's four) serve ``pw-web`` with 30 ms
of latency, so requests are in flight whenever a server goes away. HAProxy balances them
(:mod:`patchwarden.testing.traffic_haproxy`) and logs every request to a
:class:`~patchwarden.drivers.traffic.HaproxyLog`, the canary analysis' source. Two more
``pw-web`` builds join the lab's repository for canaries that pass their health check yet
serve badly: ``1.0-4`` is slow (+120 ms a page), ``1.0-5`` fails 30 % of pages.

Example (as root)::

    with shared_lab(TRAFFIC_LAB) as lab:
        traffic = TrafficLab(lab, LoopThread())
        traffic.up()
        run = run_strategy(traffic, "rolling")     # patchwarden.testing.traffic_scenarios
        traffic.down()
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.haproxy import HaproxyConfig, HaproxyDriver
from patchwarden.drivers.haproxy_stats import parse_show_stat
from patchwarden.drivers.real import RealDrivers
from patchwarden.drivers.traffic import HaproxyLog, HaproxyLogMetrics
from patchwarden.engine.steps import Drivers
from patchwarden.service.sources import read_inventory
from patchwarden.testing.lab import Lab, LabConfig
from patchwarden.testing.lab_image import LabError
from patchwarden.testing.lab_repo import INITIAL, PACKAGES, LabPackage, build_repo
from patchwarden.testing.lab_session import (
    LoopThread,
    engine_drivers,
    lab_real_drivers,
    shared_lab,
)
from patchwarden.testing.traffic_haproxy import HaproxyProcess, HaproxySetup

__all__ = [
    "FRONTEND",
    "LB_ID",
    "TRAFFIC_LAB",
    "TRAFFIC_PACKAGES",
    "TrafficLab",
    "shared_traffic_lab",
]

TRAFFIC_LAB = LabConfig(
    dir=Path("/srv/patchwarden-lab-traffic"),
    first_address="127.0.2.2",
    hosts=6,
    latency_s=0.03,
    reboot_pause_s=1.0,
)
"""Six hosts with 30 ms pages, on 127.0.2.2-7; HAProxy listens on :data:`FRONTEND`."""

FRONTEND = "127.0.2.1"
LB_ID = "lb-traffic"


def _web(version: str, status: str, summary: str) -> LabPackage:
    return LabPackage(
        "pw-web", version, summary, {"usr/share/pw-web/status": f"{status} pw-web {version}\n"}
    )


TRAFFIC_PACKAGES: tuple[LabPackage, ...] = (
    _web("1.0-4", "ok delay_ms=120", "lab web service (slow update: +120 ms a page)"),
    _web("1.0-5", "ok fail_pct=30", "lab web service (flaky update: 30 % of pages fail)"),
)
"""Bad builds a health check does not notice: only traffic shows them."""


@dataclass
class TrafficLab:
    """HAProxy, its request log and real drivers over a running lab of at least six hosts."""

    lab: Lab
    loop: LoopThread
    real: RealDrivers | None = None
    log: HaproxyLog = field(default_factory=HaproxyLog)
    proxy: HaproxyProcess | None = None

    @property
    def setup(self) -> HaproxySetup:
        """HAProxy's settings (valid after :meth:`up`)."""
        if self.proxy is None:
            raise LabError("the traffic lab is not up")
        return self.proxy.setup

    @property
    def hosts(self) -> list[str]:
        """Lab host ids, in pool order."""
        return [spec.id for spec in self.lab.specs()]

    def up(self) -> None:
        """Add the traffic builds to the hosts' repository; start the log and HAProxy."""
        if len(self.hosts) < 6:
            raise LabError("the traffic lab needs at least 6 hosts")
        self.add_packages()
        self.real = lab_real_drivers(self.lab, reboot_poll_s=0.2)
        port = self.loop.run(self.log.start("127.0.0.1", 0))
        servers = tuple((s.id, s.address, s.http_port) for s in self.lab.specs())
        self.proxy = HaproxyProcess(
            HaproxySetup(self.lab.dir / "haproxy", FRONTEND, servers, log_port=port)
        )
        self.proxy.start()
        self.wait_servers_up()

    def down(self) -> None:
        """Stop HAProxy and the log; close the drivers' connections."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.log.close()
        if self.real is not None:
            self.loop.run(self.real.close())
            self.real = None

    def add_packages(self) -> None:
        """Put the traffic builds into every host's repository (again, after a host is replaced)."""
        scratch = Path(tempfile.mkdtemp(prefix="pw-traffic-repo-"))
        try:
            repo = build_repo(scratch / "repo", PACKAGES + TRAFFIC_PACKAGES)
            for spec in self.lab.specs():
                shutil.copytree(repo, spec.root / "srv" / "repo", dirs_exist_ok=True)
        finally:
            shutil.rmtree(scratch)
        # The hosts learn of the new builds the first time apt is asked for one of them.

    # -- inventory and drivers -----------------------------------------------------------

    def inventory(self, blue_green: bool = False) -> Inventory:
        """The lab hosts and the load balancer: one pool of all six, or blue and green."""
        hosts = read_inventory([self.lab.inventory_path]).inventory
        setup = self.setup
        if blue_green:
            blue, green = setup.sides()
            pool: dict[str, Any] = {
                "name": "web",
                "blue_green": {"blue": list(blue), "green": list(green), "active": "green"},
            }
            pool_config: dict[str, Any] = {"map": str(setup.map_file)}
        else:
            pool = {"name": "web", "members": self.hosts}
            pool_config = {"backend": "web"}
        lb = LoadBalancer.model_validate(
            {
                "id": LB_ID,
                "kind": "load_balancer",
                "env": self.lab.config.env,
                "driver": "haproxy",
                "driver_config": {"socket": str(setup.socket), "pools": {"web": pool_config}},
                "pools": [pool],
            }
        )
        return Inventory(assets=(*hosts.assets, lb))

    def lb_config(self, blue_green: bool = False) -> HaproxyConfig:
        """The load balancer's validated driver config."""
        lb = self.inventory(blue_green).by_id[LB_ID]
        assert isinstance(lb, LoadBalancer)
        return HaproxyConfig.from_asset(lb)

    def driver(self, blue_green: bool = False) -> HaproxyDriver:
        """The HAProxy driver of the load balancer."""
        return HaproxyDriver(self.lb_config(blue_green))

    def engine_drivers(self, blue_green: bool = False) -> Drivers:
        """The engine's drivers: real hosts, real HAProxy, metrics from HAProxy's log."""
        if self.real is None:
            raise LabError("the traffic lab is not up")
        base = engine_drivers(self.real, {LB_ID: self.driver(blue_green)})
        metrics = HaproxyLogMetrics(self.log, self.lb_config(blue_green))
        return Drivers(**{**base.__dict__, "metrics": {LB_ID: metrics}})

    # -- between scenarios ---------------------------------------------------------------

    def reset(self, timeout_s: float = 60.0) -> None:
        """Every host back to the starting versions, every server ready at weight 100, green on."""
        if self.real is None:
            raise LabError("the traffic lab is not up")
        self.lab.wait_up(timeout_s)
        real = self.real

        async def put_back() -> None:
            await asyncio.gather(*(real.packages.install(h, INITIAL) for h in self.hosts))
            driver, bg = self.driver(), self.driver(blue_green=True)
            for host in self.hosts:
                for d in (driver, bg):
                    await d.set_weight("web", host, 100)
                    await d.enable("web", host)
            await bg.switch("web", "green")

        self.loop.run(put_back(), timeout_s)
        self.wait_servers_up(timeout_s)

    def wait_servers_up(self, timeout_s: float = 30.0) -> None:
        """Wait until HAProxy's checks see every server of every backend up."""
        driver = self.driver()
        deadline = time.monotonic() + timeout_s
        while True:
            stats = parse_show_stat(self.loop.run(driver.api.command("show stat")))
            down = sorted(f"{s.backend}/{s.server}: {s.status}" for s in stats if s.status != "UP")
            if stats and not down:
                return
            if time.monotonic() > deadline:
                raise LabError(f"HAProxy servers not up after {timeout_s} s: {down}")
            time.sleep(0.1)


_shared: dict[str, tuple[TrafficLab, int, Any]] = {}


@contextmanager
def shared_traffic_lab(config: LabConfig = TRAFFIC_LAB) -> Iterator[TrafficLab]:
    """One traffic lab (lab, HAProxy, log, event loop) for every test module that asks.

    Example (a pytest session fixture)::

        @pytest.fixture(scope="session")
        def traffic():
            with shared_traffic_lab() as running:
                yield running
    """
    key = str(config.dir)
    if key not in _shared:
        stack = ExitStack()
        try:
            lab = stack.enter_context(shared_lab(config))
            loop = LoopThread()
            stack.callback(loop.close)
            traffic = TrafficLab(lab, loop)
            stack.callback(traffic.down)
            traffic.up()
        except BaseException:
            stack.close()
            raise
        _shared[key] = (traffic, 0, stack)
    traffic, users, stack = _shared[key]
    _shared[key] = (traffic, users + 1, stack)
    try:
        yield traffic
    finally:
        traffic, users, stack = _shared[key]
        if users > 1:
            _shared[key] = (traffic, users - 1, stack)
        else:
            del _shared[key]
            stack.close()
