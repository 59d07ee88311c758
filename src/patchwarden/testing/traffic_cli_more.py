"""Image rebuilds and appliance HA pairs through ``patchwarden apply --real``, under load.

What the CLI-level tests and ``bench/bench_traffic.py`` share for the two strategies whose
lab is more than the traffic lab's hosts and HAProxy:

- :func:`traffic_image`: the six traffic hosts as instances of one rootfs image, version 1
  being the tree they run (afterwards every host is back on it and the store is gone);
  :func:`write_image_inventory` writes the inventory naming it (each new version booted as
  a test instance, :mod:`patchwarden.testing.lab_boot`); :func:`run_cli_image_rebuild`
  runs the rebuild campaign while 40 clients request the pool.
- :func:`run_cli_ha_pair`: the change submitted and approved by a second person, as prod
  requires, then the keepalived pair flashed while clients request its virtual IP,
  resending a failed GET once.

Example (as root, the traffic lab up)::

    with traffic_image(traffic) as store:
        run = run_cli_image_rebuild(traffic, store, Path("/tmp/bench/image"))
    print(run.summary())
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from patchwarden.testing.lab_appliance import AppliancePair
from patchwarden.testing.lab_boot import BootInstance, boot_settings
from patchwarden.testing.lab_instances import lower_of, make_image_store, replace_instance
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import (
    REQUIRE_CHANGE,
    CliTrafficRun,
    advisory,
    apply_approved,
    cli,
    cli_env,
    journal,
    submit_and_approve,
    write_inventory,
)
from patchwarden.testing.traffic_load import LoadProcess, LoadReport

__all__ = [
    "BOOT",
    "HA_PAIR_CAMPAIGN",
    "IMAGE_CAMPAIGN",
    "IMAGE_STORE",
    "HaPairRun",
    "ha_pair_files",
    "run_cli_ha_pair",
    "run_cli_image_rebuild",
    "traffic_image",
    "write_image_inventory",
]

IMAGE_STORE = Path("/srv/patchwarden-lab-images/web-image")
BOOT = BootInstance(Path("/srv/patchwarden-lab-boot-traffic"), "pwboot", "10.231.90")
"""Where the traffic image's test instances boot: their own namespace and /24."""

IMAGE_CAMPAIGN = (
    """\
name: web image rebuild
groups:
  web: {select: {kind: image}, strategy: image_rebuild, max_unavailable: 1}
"""
    + REQUIRE_CHANGE
)

HA_PAIR_CAMPAIGN = """\
name: appliance firmware 2.6-2
groups:
  appliances: {select: {kind: virtual_appliance}, strategy: ha_pair, fail_back: true}
firmware:
  - {select: {kind: virtual_appliance}, version: "2.6-2"}
"""


@contextmanager
def traffic_image(traffic: TrafficLab, store: Path = IMAGE_STORE) -> Iterator[Path]:
    """The image store of the traffic hosts; afterwards every host back on the lab's tree."""
    traffic.reset()
    template = lower_of(traffic.lab.specs()[0].root)
    made = make_image_store(traffic.lab, store)
    try:
        yield made
    finally:
        for host in traffic.hosts:
            if lower_of(traffic.lab.host(host).root) != template:
                replace_instance(traffic.lab.dir, host, template)
        traffic.add_packages()
        traffic.reset()
        shutil.rmtree(store.parent, ignore_errors=True)


def write_image_inventory(
    traffic: TrafficLab,
    store: Path,
    path: Path,
    test: tuple[tuple[str, ...], ...] = (("dpkg", "--audit"),),
) -> None:
    """The traffic lab's inventory with every host an instance of ``web-image`` in ``store``.

    Each new version runs the ``test`` commands in its tree, then boots as a test instance
    (:data:`BOOT`) whose pw-web must answer its health page over the network.
    """
    write_inventory(traffic, path, metrics=False)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    for asset in data["assets"]:
        if asset["kind"] == "vm":
            asset["image"] = "web-image"
    launch = [sys.executable, "-m", "patchwarden.testing.lab_instances",
              str(traffic.lab.dir), "{instance}", "{root}"]  # fmt: skip
    data["assets"].append(
        {
            "id": "web-image",
            "kind": "image",
            "env": traffic.lab.config.env,
            "format": "raw",
            "os": {"family": "debian", "release": "12"},
            "ecosystem": "Debian:12",
            "packages": json.loads((store / "1" / "packages.json").read_text()),
            "driver": "rootfs",
            "driver_config": {
                "store": str(store),
                "launch": launch,
                "test": [list(argv) for argv in test],
                "boot": boot_settings(BOOT),
            },
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run_cli_image_rebuild(
    traffic: TrafficLab, store: Path, work: Path, concurrency: int = 40
) -> CliTrafficRun:
    """Write the files, ``feeds import``, then the approved change applied under load.

    Raises:
        RuntimeError: A command before the rollout failed (its output says why).
    """
    work.mkdir(parents=True, exist_ok=True)
    inventory, campaign, feed = (work / n for n in ("inv.yaml", "c.yaml", "dsa.json"))
    write_image_inventory(traffic, store, inventory)
    campaign.write_text(IMAGE_CAMPAIGN)
    feed.write_text(json.dumps([advisory(9902, "pw-web")]))
    env = cli_env(traffic, work)
    _check(cli(env, "feeds", "import", str(feed)), "feeds import")
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, concurrency)
    load.start()
    start = time.monotonic()
    try:
        applied = apply_approved(env, campaign, inventory, timeout=600)
    finally:
        seconds = time.monotonic() - start
        report = load.stop()
    state, records = journal(env)
    return CliTrafficRun("image_rebuild", applied.returncode, state, records, report, seconds)


def ha_pair_files(
    pair: AppliancePair, work: Path, campaign: str = HA_PAIR_CAMPAIGN
) -> tuple[dict[str, str], Path, Path]:
    """The pair's inventory and the firmware campaign written; the environment to run in."""
    work.mkdir(parents=True, exist_ok=True)
    inventory, campaign_file = work / "inventory.yaml", work / "campaign.yaml"
    inventory.write_text(yaml.safe_dump({"assets": pair.assets()}, sort_keys=False))
    campaign_file.write_text(campaign)
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{work / 'pw.db'}", "COLUMNS": "160"}
    return env, inventory, campaign_file


@dataclass(frozen=True)
class HaPairRun:
    """One ``apply --real`` of the pair's firmware, with the clients of its virtual IP."""

    exit_code: int
    state: str
    records: list[Any]
    load: LoadReport
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The bench's row: requests, raw failures, failures left after one retry, seconds."""
        return {
            "requests": self.load.requests,
            "failed_raw": self.load.failed + self.load.retried,
            "failed": self.load.failed,
            "seconds": round(self.seconds, 1),
        }


def run_cli_ha_pair(pair: AppliancePair, work: Path, concurrency: int = 24) -> HaPairRun:
    """Files written, the change submitted and approved, ``apply --real`` under load.

    Raises:
        RuntimeError: A command before the rollout failed (its output says why).
    """
    env, inventory, campaign = ha_pair_files(pair, work)
    submit_and_approve(env, campaign, inventory)
    load = LoadProcess(pair.config.vip, pair.config.port, concurrency=concurrency, retries=1)
    load.start()
    start = time.monotonic()
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=120)
    finally:
        seconds = time.monotonic() - start
        report = load.stop()
    state, records = journal(env)
    return HaPairRun(applied.returncode, state, records, report, seconds)


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"patchwarden {what}: {done.stdout}{done.stderr}")
