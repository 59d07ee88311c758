"""The lab's virtual appliance HA pair: two HAProxy appliances under keepalived VRRP.

Each appliance lives in a network namespace of its own, joined to this machine by a veth
pair on a bridge; keepalived in each keeps one virtual IP on the active member and HAProxy
in each answers on port ``port`` of every address it has, so clients of the virtual IP are
served by whichever member holds it. Both keepalived run ``state BACKUP`` with ``nopreempt``
(priorities 150 and 100): the first member starts active, and a member that comes back does
not take the address back. Each member's releases ("firmware") are staged under
``base/<id>/releases/<version>/haproxy.cfg`` with ``current`` linking to the running one;
every release answers ``<id> release <version>``.

Names (``<prefix>-br``, namespaces ``<prefix>-a``/``-b``), the subnet and the VRRP router id
are this lab's own, so it can run beside the other labs. Needs root, ``ip``, ``haproxy``
and ``keepalived`` (Debian packages). Everything :meth:`AppliancePair.up` starts,
:meth:`AppliancePair.down` stops by pid and removes.

Example (as root)::

    pair = AppliancePair()
    pair.up()
    print(pair.holder())          # 'lb-a'
    assets = pair.assets()        # the two appliances, for an inventory file
    pair.down()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchwarden.testing.lab_image import LabError

__all__ = ["AppliancePair", "AppliancePairConfig"]


@dataclass(frozen=True)
class AppliancePairConfig:
    """Where the pair lives and what it runs.

    Attributes:
        prefix: Names of the bridge, namespaces and host-side veth ends.
        subnet: The first three octets of the pair's /24 (``.1`` is this machine).
        vrid: The VRRP router id.
        port: Where the appliances serve HTTP.
        base: Root-owned folder of the pair's configurations, releases and pid files.
        env: The appliances' environment in the inventory.
        releases: The releases staged on each member.
        initial: The release each starts on.
        ids: The two appliances' inventory ids.
    """

    prefix: str = "pwha"
    subnet: str = "10.231.77"
    vrid: int = 77
    port: int = 8080
    base: Path = Path("/srv/patchwarden-lab-appliances")
    env: str = "prod"
    releases: tuple[str, ...] = ("2.6-1", "2.6-2")
    initial: str = "2.6-1"
    ids: tuple[str, str] = ("lb-a", "lb-b")

    @property
    def vip(self) -> str:
        """The pair's virtual IP."""
        return f"{self.subnet}.10"


_HAPROXY_CFG = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend appliance
    bind :{port}
    http-request return status 200 content-type text/plain string "{id} release {version}"
"""

_KEEPALIVED_CONF = """\
global_defs {{
    router_id {id}
}}
vrrp_instance pair {{
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id {vrid}
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {vip}/24 dev eth0
    }}
}}
"""


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass
class AppliancePair:
    """The pair: :meth:`up`, :meth:`assets` for the inventory, :meth:`down`."""

    config: AppliancePairConfig = field(default_factory=AppliancePairConfig)

    def _netns(self, index: int) -> str:
        return f"{self.config.prefix}-{'ab'[index]}"

    def _home(self, index: int) -> Path:
        return self.config.base / self.config.ids[index]

    def address(self, index: int) -> str:
        """The member's own address."""
        return f"{self.config.subnet}.{2 + index}"

    def up(self, timeout_s: float = 20.0) -> None:
        """Bridge, namespaces, releases, HAProxy and keepalived; returns once the VIP serves.

        Raises:
            LabError: A command failed, or the first member never took the address.
        """
        c = self.config
        self.down()
        bridge = f"{c.prefix}-br"
        _run(["ip", "link", "add", bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{c.subnet}.1/24", "dev", bridge])
        _run(["ip", "link", "set", bridge, "up"])
        c.base.mkdir(parents=True, exist_ok=True)
        c.base.chmod(0o755)
        for index, app in enumerate(c.ids):
            netns, home = self._netns(index), self._home(index)
            outside = f"{c.prefix}-{'ab'[index]}h"
            _run(["ip", "netns", "add", netns])
            _run(["ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0",
                  "netns", netns])  # fmt: skip
            _run(["ip", "link", "set", outside, "master", bridge, "up"])
            _run(["ip", "-n", netns, "addr", "add", f"{self.address(index)}/24", "dev", "eth0"])
            _run(["ip", "-n", netns, "link", "set", "eth0", "up"])
            _run(["ip", "-n", netns, "link", "set", "lo", "up"])
            for version in c.releases:
                release = home / "releases" / version
                release.mkdir(parents=True, exist_ok=True)
                text = _HAPROXY_CFG.format(port=c.port, id=app, version=version)
                (release / "haproxy.cfg").write_text(text)
            (home / "current").symlink_to(home / "releases" / c.initial)
            priority = 150 if index == 0 else 100
            conf = _KEEPALIVED_CONF.format(id=app, vrid=c.vrid, priority=priority, vip=c.vip)
            (home / "keepalived.conf").write_text(conf)
            _run(["ip", "netns", "exec", netns, "haproxy", "-D", "-p", str(home / "haproxy.pid"),
                  "-f", str(home / "current" / "haproxy.cfg")])  # fmt: skip
        # The first member starts alone, so it is the one that takes the address.
        for index in range(2):
            self._start_keepalived(index)
            if index == 0:
                self._wait(lambda: self.holder() == c.ids[0], timeout_s, "the VIP on lb-a")
        self._wait(lambda: self._serves(c.vip), timeout_s, "the VIP to answer")

    def _start_keepalived(self, index: int) -> None:
        home = self._home(index)
        _run(["ip", "netns", "exec", self._netns(index), "keepalived", "--vrrp",
              "-f", str(home / "keepalived.conf"), "-p", str(home / "keepalived.pid"),
              "-r", str(home / "keepalived-vrrp.pid")])  # fmt: skip

    def _serves(self, address: str) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://{address}:{self.config.port}/", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    @staticmethod
    def _wait(condition: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise LabError(f"appliance lab: no {what} after {timeout_s:.0f} s")
            time.sleep(0.1)

    def holder(self) -> str | None:
        """The member holding the virtual IP now (``None`` if neither or both)."""
        holders = []
        for index, app in enumerate(self.config.ids):
            done = _run(["ip", "-n", self._netns(index), "-o", "addr", "show"], check=False)
            if f" {self.config.vip}/" in done.stdout:
                holders.append(app)
        return holders[0] if len(holders) == 1 else None

    def serving_release(self, index: int) -> str:
        """What member ``index`` answers on its own address (``<id> release <version>``)."""
        import urllib.request

        url = f"http://{self.address(index)}:{self.config.port}/"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    def assets(self) -> list[dict[str, Any]]:
        """The two appliances as inventory entries, driven by ``keepalived``."""
        c = self.config
        out = []
        for index, app in enumerate(c.ids):
            home = self._home(index)
            out.append(
                {
                    "id": app,
                    "kind": "virtual_appliance",
                    "env": c.env,
                    "function": "load_balancer",
                    "vendor": "haproxy",
                    "product": "lab appliance",
                    "firmware": c.initial,
                    "ha_peer": c.ids[1 - index],
                    "criticality": "high",
                    "connection": {"transport": "local"},
                    "health": [
                        {
                            "type": "http",
                            "target": f"http://{self.address(index)}:{c.port}/",
                            "expect_body": app,
                        }
                    ],
                    "driver": "keepalived",
                    "driver_config": {
                        "vip": c.vip,
                        "netns": self._netns(index),
                        "keepalived": {
                            "config": str(home / "keepalived.conf"),
                            "pid_file": str(home / "keepalived.pid"),
                        },
                        "service": {"root": str(home), "pid_file": str(home / "haproxy.pid")},
                    },
                }
            )
        return out

    def down(self) -> None:
        """Stop every process the pair started (by pid file) and remove its network and files."""
        c = self.config
        for index in range(2):
            home = self._home(index)
            for name in ("keepalived.pid", "keepalived-vrrp.pid", "haproxy.pid"):
                _kill(home / name)
            # Deleting the host's end removes the pair now; a namespace goes only once
            # nothing holds it, which need not be at once.
            _run(["ip", "link", "del", f"{c.prefix}-{'ab'[index]}h"], check=False)
            _run(["ip", "netns", "del", self._netns(index)], check=False)
        _run(["ip", "link", "del", f"{c.prefix}-br"], check=False)
        shutil.rmtree(c.base, ignore_errors=True)


def _kill(pid_file: Path, timeout_s: float = 10.0) -> None:
    """Stop the processes named in ``pid_file``: SIGTERM, then SIGKILL after ``timeout_s``."""
    try:
        pids = [int(p) for p in pid_file.read_text().split() if p.isdigit()]
    except OSError:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        while _alive(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
