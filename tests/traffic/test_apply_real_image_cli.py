"""Offline image patching from the command line: a new image version, instances replaced.

The six traffic hosts are instances of one golden image, ``web-image``: a Debian root tree
(the lab's debootstrap root) kept by the ``rootfs`` driver as version 1. ``patchwarden
apply --real`` copies it to version 2, installs the fixed ``pw-web`` inside it with apt in
a chroot, records its package list, tests the tree, then replaces the instances one at a
time behind HAProxy: drain, wait drained, re-create the host from version 2 (the lab
controller takes it down and brings it back on a fresh root of that tree, same name and
address), health, re-enable. ``patchwarden rollback`` re-creates them from version 1.
40 clients request the pool through HAProxy throughout and count every failure.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import cli, dsa, journal

from patchwarden.testing.lab_instances import lower_of, make_image_store, replace_instance
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import cli_env, write_inventory
from patchwarden.testing.traffic_load import LoadProcess

pytestmark = pytest.mark.slow

STORE = Path("/srv/patchwarden-lab-images/web-image")

CAMPAIGN = """\
name: web image rebuild
groups:
  web: {select: {kind: image}, strategy: image_rebuild, max_unavailable: 1}
"""


@pytest.fixture
def image(traffic: TrafficLab) -> Iterator[Path]:
    """The image store; afterwards every host back on the lab's own tree, the store gone."""
    traffic.reset()
    template = lower_of(traffic.lab.specs()[0].root)
    store = make_image_store(traffic.lab, STORE)
    try:
        yield store
    finally:
        for host in traffic.hosts:
            if lower_of(traffic.lab.host(host).root) != template:
                replace_instance(traffic.lab.dir, host, template)
        traffic.add_packages()
        traffic.reset()
        shutil.rmtree(STORE.parent, ignore_errors=True)


def _inventory(traffic: TrafficLab, store: Path, path: Path) -> None:
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
                "test": [["dpkg", "--audit"], ["grep", "-q", "^ok", "/usr/share/pw-web/status"]],
            },
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _image_versions(traffic: TrafficLab) -> dict[str, str]:
    return {
        h: (traffic.lab.host(h).dir / "image").read_text().strip()
        for h in traffic.hosts
        if (traffic.lab.host(h).dir / "image").exists()
    }


@pytest.mark.timeout(420)
def test_image_rebuild_from_the_cli_replaces_every_instance_without_a_failed_request(
    traffic: TrafficLab, image: Path, tmp_path: Path
) -> None:
    inventory, campaign, feed = (tmp_path / n for n in ("inv.yaml", "c.yaml", "dsa.json"))
    _inventory(traffic, image, inventory)
    campaign.write_text(CAMPAIGN)
    feed.write_text(json.dumps([dsa(9902, "pw-web")]))
    env = cli_env(traffic, tmp_path)
    for argv in (["inventory", "validate", str(inventory)], ["feeds", "import", str(feed)]):
        done = cli(env, *argv)
        assert done.returncode == 0, done.stdout + done.stderr

    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=300)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        state, records = journal(env)
        assert state == "completed", state
        built = next(r.payload for r in records
                     if r.step_id.endswith("-build_image") and r.event == "succeeded")  # fmt: skip
        assert built["image_version"] == "web-image@2", built
        assert json.loads((image / "2" / "packages.json").read_text())["pw-web"] == "1.0-2"
        assert (image / "1" / "root").exists(), "the previous version is kept for rollback"
        assert _image_versions(traffic) == dict.fromkeys(traffic.hosts, str(image / "2" / "root"))
        real = traffic.real
        assert real is not None
        versions = {
            h: traffic.loop.run(real.packages.installed(h, ["pw-web"])) for h in traffic.hosts
        }
        assert versions == {h: {"pw-web": "1.0-2"} for h in traffic.hosts}
        rolled = cli(env, "rollback", records[0].run_id, timeout=300)
    finally:
        report = load.stop()
    assert rolled.returncode in (0, 1), rolled.stdout + rolled.stderr
    state, _ = journal(env, records[0].run_id)
    assert state == "rolled_back", (state, rolled.stdout)
    assert _image_versions(traffic) == dict.fromkeys(traffic.hosts, str(image / "1" / "root"))
    print(f"image_rebuild via apply --real, then rollback: {report.requests} requests, "
          f"{report.failed} failed")  # fmt: skip
    assert report.requests > 2000
    assert report.failed == 0, (report.causes(), report.failures[:3], report.seconds)
