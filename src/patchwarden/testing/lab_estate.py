"""Everything ``patchwarden lab up`` brings up: hosts, HAProxy, an appliance HA pair, an image.

One lab to try every real strategy on, from files a person reads:

- the lab hosts (:mod:`patchwarden.testing.lab`), each an instance of the image
  ``web-image`` and a member of pool ``web``;
- a real HAProxy in front of them (:mod:`patchwarden.testing.traffic_haproxy`) on the address
  just below the first host's, started as a daemon with a pid file, sending its request log
  to the UDP port ``apply --real`` listens on for canary analysis;
- the keepalived HA pair of HAProxy appliances in network namespaces
  (:mod:`patchwarden.testing.lab_appliance`), in ``prod``;
- the rootfs image store of ``web-image``: version 1 is the tree the hosts run; each new
  version boots a test instance (:mod:`patchwarden.testing.lab_boot`) before any host is
  replaced;
- ``inventory.yaml`` of all of it, ``advisories.json`` (a fixed ``pw-web`` and a kernel
  that needs a reboot) and one campaign file per strategy under ``campaigns/``;
- ``inventory-blue-green.yaml``: the same estate with HAProxy's pool as two sides (the
  first half of the hosts blue, the rest green, green serving) switched through HAProxy's
  map on the blue-green frontend (the next port), for ``campaigns/blue-green.yaml``. A
  host sits in one pool of an inventory, so blue-green has an inventory of its own.

:meth:`LabEstate.down` stops every process it started (by pid file, checked against the
process' command line) and removes the pair's network, the namespaces and every file.

Example (as root)::

    estate = LabEstate(EstateConfig())
    files = estate.up()
    print(files.inventory, *files.campaigns.values())
    estate.down()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml

from patchwarden.testing.lab import DEFAULT_LAB_DIR, Lab, LabConfig
from patchwarden.testing.lab_appliance import AppliancePair, AppliancePairConfig
from patchwarden.testing.lab_boot import BootInstance, boot_settings
from patchwarden.testing.lab_controller import process_alive
from patchwarden.testing.lab_image import LabError
from patchwarden.testing.lab_instances import make_image_store
from patchwarden.testing.traffic_cli import advisory
from patchwarden.testing.traffic_haproxy import HaproxySetup, render_haproxy_config

__all__ = ["EstateConfig", "EstateFiles", "LabEstate", "estate_campaigns"]

IMAGE_ID = "web-image"
LB_ID = "lb-web"
POOL = "web"
BLUE_GREEN = "blue-green"


@dataclass(frozen=True)
class EstateConfig:
    """The whole lab's settings.

    Attributes:
        lab: The hosts (and the folder everything lives in).
        pair_prefix: Names of the pair's bridge and namespaces (at most 8 characters).
        pair_subnet: First three octets of the pair's /24.
        pair_vrid: The pair's VRRP router id.
        web_port: HAProxy's frontend port.
        admin_port: HAProxy's admin socket over TCP.
        log_port: UDP port on 127.0.0.1 where HAProxy sends its request log.
    """

    lab: LabConfig = field(default_factory=LabConfig)
    pair_prefix: str = "pwlab"
    pair_subnet: str = "10.231.80"
    pair_vrid: int = 80
    web_port: int = 8100
    admin_port: int = 9100
    log_port: int = 5517

    @property
    def boot_subnet(self) -> str:
        """The /24 of the image's test instances: the pair's third octet plus 100.

        >>> EstateConfig().boot_subnet
        '10.231.180'
        """
        a, b, c = self.pair_subnet.split(".")
        return f"{a}.{b}.{(int(c) + 100) % 256}"

    def to_json(self) -> dict[str, Any]:
        """What ``lab down`` needs to find everything again."""
        return {
            "pair_prefix": self.pair_prefix,
            "pair_subnet": self.pair_subnet,
            "pair_vrid": self.pair_vrid,
            "web_port": self.web_port,
            "admin_port": self.admin_port,
            "log_port": self.log_port,
        }


@dataclass(frozen=True)
class EstateFiles:
    """What :meth:`LabEstate.up` wrote: the inventory, advisories and a campaign per strategy."""

    inventory: Path
    advisories: Path
    campaigns: dict[str, Path]
    blue_green_inventory: Path
    """The inventory ``campaigns/blue-green.yaml`` runs on: HAProxy's pool as two sides."""

    def inventory_for(self, campaign: str) -> Path:
        """The inventory file to plan and apply ``campaign`` (a key of :attr:`campaigns`) on."""
        return self.blue_green_inventory if campaign == BLUE_GREEN else self.inventory


def estate_campaigns() -> dict[str, dict[str, Any]]:
    """A campaign per strategy the lab can run for real, by file name (without ``.yaml``).

    Example:
        >>> sorted(estate_campaigns())
        ['blue-green', 'canary', 'ha-pair', 'image', 'rolling']
        >>> estate_campaigns()["ha-pair"]["groups"]["appliances"]["strategy"]
        'ha_pair'
    """
    web = {"select": {"role": "web"}}
    return {
        "rolling": {
            "name": "lab rolling",
            "groups": {"web": {**web, "strategy": "rolling", "max_unavailable": 1}},
        },
        "canary": {
            "name": "lab canary",
            "groups": {"web": {**web, "strategy": "canary", "canary": 1, "analysis_s": 5.0}},
        },
        BLUE_GREEN: {
            "name": "lab blue-green",
            "groups": {"web": {**web, "strategy": "blue_green", "bake_s": 9.0}},
        },
        "image": {
            "name": "lab image rebuild",
            "groups": {
                "web": {
                    "select": {"kind": "image"},
                    "strategy": "image_rebuild",
                    "max_unavailable": 1,
                },
            },  # fmt: skip
        },
        "ha-pair": {
            "name": "lab appliance firmware 2.6-2",
            "groups": {
                "appliances": {"select": {"kind": "virtual_appliance"}, "strategy": "ha_pair"}
            },  # fmt: skip
            "firmware": [{"select": {"kind": "virtual_appliance"}, "version": "2.6-2"}],
        },
    }


class LabEstate:
    """The hosts, HAProxy, the appliance pair and the image: :meth:`up`, :meth:`down`."""

    def __init__(self, config: EstateConfig | None = None) -> None:
        self.config = config or EstateConfig()
        self.lab = Lab(self.config.lab)
        c = self.config
        self.pair = AppliancePair(
            AppliancePairConfig(
                prefix=c.pair_prefix,
                subnet=c.pair_subnet,
                vrid=c.pair_vrid,
                base=self.dir / "appliances",
            )
        )

    @classmethod
    def of(cls, directory: Path = DEFAULT_LAB_DIR) -> LabEstate:
        """The estate recorded in ``directory`` (defaults where nothing is recorded)."""
        recorded: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads((directory / "estate.json").read_text())
        hosts = 4
        first = "127.0.0.2"
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            listed = json.loads((directory / "lab.json").read_text())["hosts"]
            hosts, first = len(listed), listed[0]["address"]
        lab = LabConfig(dir=directory, hosts=hosts, first_address=first)
        known = set(EstateConfig.__dataclass_fields__) - {"lab"}
        return cls(EstateConfig(lab=lab, **{k: v for k, v in recorded.items() if k in known}))

    # -- layout --------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """The lab's folder: everything of the estate lives in it."""
        return self.config.lab.dir

    @property
    def haproxy(self) -> HaproxySetup:
        """The HAProxy in front of the hosts."""
        c = self.config
        front = str(IPv4Address(c.lab.first_address) - 1)
        servers = tuple((s.id, s.address, s.http_port) for s in self.lab.specs())
        return HaproxySetup(
            self.dir / "haproxy", front, servers, log_port=c.log_port, web_port=c.web_port,
            bluegreen_port=c.web_port + 1, admin_port=c.admin_port, run_log_port=c.log_port,
        )  # fmt: skip

    @property
    def image_store(self) -> Path:
        """The rootfs store of ``web-image``."""
        return self.dir / "images" / IMAGE_ID

    @property
    def boot(self) -> BootInstance:
        """Where the image's test instances boot: a namespace and a /24 of their own."""
        c = self.config
        return BootInstance(self.dir / "boot", f"{c.pair_prefix}-bt", c.boot_subnet)

    @property
    def _haproxy_pid(self) -> Path:
        return self.dir / "haproxy" / "haproxy.pid"

    # -- life cycle ----------------------------------------------------------------------

    def up(self) -> EstateFiles:
        """Bring everything up and write the files; on failure, take down what started.

        Raises:
            LabError: Not root, a lab already up there, or a part did not start.
        """
        self.lab.up()
        try:
            (self.dir / "estate.json").write_text(json.dumps(self.config.to_json(), indent=2))
            self._start_haproxy()
            self.pair.up()
            make_image_store(self.lab, self.image_store)
            return self._write_files()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop HAProxy, the pair and the hosts; remove the network, namespaces and files."""
        self.pair.down()
        self.boot.down()
        self._stop_haproxy()
        self.lab.down()

    def leftovers(self) -> list[str]:
        """What of this estate still exists: namespaces, links, processes, the folder."""
        left = []
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        prefix = self.config.pair_prefix
        left += [f"netns {n.split()[0]}" for n in netns.splitlines()
                 if n.split() and n.split()[0].startswith(f"{prefix}-")]  # fmt: skip
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
        for line in links.stdout.splitlines():
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name.startswith(f"{prefix}-"):
                left.append(f"link {name}")
        marker = str(self.dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if marker in cmdline and process_alive(int(entry.name)):
                    words = cmdline.decode(errors="replace").split("\0")
                    left.append(f"process {entry.name}: {' '.join(words).strip()}")
        if self.dir.exists():
            left.append(f"folder {self.dir}")
        return left

    # -- HAProxy -------------------------------------------------------------------------

    def _start_haproxy(self, timeout_s: float = 10.0) -> None:
        setup = self.haproxy
        setup.dir.mkdir(parents=True, exist_ok=True)
        setup.dir.chmod(0o700)
        setup.config_file.write_text(render_haproxy_config(setup))
        setup.map_file.write_text("web web_green\n")
        done = subprocess.run(
            ["haproxy", "-D", "-p", str(self._haproxy_pid), "-f", str(setup.config_file)],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if done.returncode != 0:
            raise LabError(f"haproxy did not start: {done.stderr.strip()}")
        deadline = time.monotonic() + timeout_s
        while not setup.socket.exists():
            if time.monotonic() > deadline:
                raise LabError(f"haproxy's admin socket {setup.socket} did not appear")
            time.sleep(0.05)

    def _stop_haproxy(self, timeout_s: float = 10.0) -> None:
        try:
            pids = [int(p) for p in self._haproxy_pid.read_text().split() if p.isdigit()]
        except OSError:
            return
        config = str(self.haproxy.config_file)
        mine = []
        for pid in pids:
            with contextlib.suppress(OSError):
                if config.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    mine.append(pid)
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for pid in mine:
            while process_alive(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)

    # -- files ---------------------------------------------------------------------------

    def inventory(self, *, blue_green: bool = False) -> dict[str, Any]:
        """The inventory of the whole estate (the hosts as :class:`Lab` writes them).

        With ``blue_green`` HAProxy's pool is two sides switched through its map (see
        :meth:`HaproxySetup.sides`) rather than one pool of every host.
        """
        hosts: dict[str, Any] = yaml.safe_load(self.lab.inventory_path.read_text())
        env = self.config.lab.env
        assets = []
        for asset in hosts["assets"]:
            assets.append({**asset, "image": IMAGE_ID})
        setup = self.haproxy
        members = [spec.id for spec in self.lab.specs()]
        metrics = {"log": setup.run_log}
        pool: dict[str, Any] = {"name": POOL, "members": members}
        pool_config: dict[str, Any] = {"backend": "web", "metrics": metrics}
        if blue_green:
            # HAProxy names its servers after the hosts, so the sides are host ids.
            blue, green = setup.sides()
            pool = {"name": POOL, "blue_green": {"blue": list(blue), "green": list(green),
                                                 "active": "green"}}  # fmt: skip
            pool_config = {"map": str(setup.map_file), "metrics": metrics}
        assets.append({
            "id": LB_ID,
            "kind": "load_balancer",
            "env": env,
            "driver": "haproxy",
            "driver_config": {"socket": str(setup.socket), "pools": {POOL: pool_config}},
            "pools": [pool],
        })  # fmt: skip
        launch = [sys.executable, "-m", "patchwarden.testing.lab_instances",
                  str(self.dir), "{instance}", "{root}"]  # fmt: skip
        packages = json.loads((self.image_store / "1" / "packages.json").read_text())
        assets.append({
            "id": IMAGE_ID,
            "kind": "image",
            "env": env,
            "format": "raw",
            "os": {"family": "debian", "release": "12"},
            "ecosystem": "Debian:12",
            "packages": packages,
            "driver": "rootfs",
            "driver_config": {
                "store": str(self.image_store),
                "launch": launch,
                "test": [["dpkg", "--audit"]],
                "boot": boot_settings(self.boot),
            },
        })  # fmt: skip
        assets.extend(self.pair.assets())
        environments = [env] if env == self.pair.config.env else [env, self.pair.config.env]
        return {"environments": environments, "assets": assets}

    def _write_files(self) -> EstateFiles:
        inventory = self.lab.inventory_path
        header = "".join(
            line + "\n" for line in inventory.read_text().splitlines() if line.startswith("#")
        )
        header += "# Hosts behind HAProxy, an image of them, and a keepalived appliance pair.\n"
        # Both from the hosts' file as the lab wrote it, before it is overwritten.
        whole, sides = self.inventory(), self.inventory(blue_green=True)
        inventory.write_text(header + yaml.safe_dump(whole, sort_keys=False))
        blue_green = self.dir / "inventory-blue-green.yaml"
        note = f"# For campaigns/{BLUE_GREEN}.yaml: HAProxy's pool as a blue and a green side.\n"
        blue_green.write_text(header + note + yaml.safe_dump(sides, sort_keys=False))
        advisories = self.dir / "advisories.json"
        feed = [advisory(9902, "pw-web"), advisory(9903, "pw-kernel", reboot_required=True)]
        advisories.write_text(json.dumps(feed, indent=2) + "\n")
        folder = self.dir / "campaigns"
        folder.mkdir(exist_ok=True)
        campaigns = {}
        for name, campaign in estate_campaigns().items():
            path = folder / f"{name}.yaml"
            path.write_text(yaml.safe_dump(campaign, sort_keys=False))
            campaigns[name] = path
        return EstateFiles(inventory, advisories, campaigns, blue_green)
