"""Offline image patching from the command line: a new image version, instances replaced.

The six traffic hosts are instances of one golden image, ``web-image``: a Debian root tree
(the lab's debootstrap root) kept by the ``rootfs`` driver as version 1. The change is
submitted and approved by a second person; ``patchwarden apply --real`` copies version 1
to version 2, installs the fixed ``pw-web`` inside it with apt in a chroot, records its
package list, tests the tree and boots a test instance of it (a lab host of its own in a
network namespace, its service health-checked over the network), then replaces the
instances one at a time behind HAProxy: drain, wait drained, re-create the host from
version 2 (the lab controller takes it down and brings it back on a fresh root of that
tree, same name and address), health, re-enable. ``patchwarden rollback`` re-creates them
from version 1. 40 clients request the pool through HAProxy throughout and count every
failure.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli, dsa, journal

from patchwarden.drivers.haproxy_stats import parse_show_stat
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import (
    apply_approved,
    cli_env,
    kill_apply_when,
    run_status,
    submit_and_approve,
)
from patchwarden.testing.traffic_cli_more import (
    BOOT,
    IMAGE_CAMPAIGN,
    traffic_image,
    write_image_inventory,
)
from patchwarden.testing.traffic_load import LoadProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def image(traffic: TrafficLab) -> Iterator[Path]:
    """The image store; afterwards every host back on the lab's own tree, the store gone."""
    with traffic_image(traffic) as store:
        yield store


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
    write_image_inventory(traffic, image, inventory)
    campaign.write_text(IMAGE_CAMPAIGN)
    feed.write_text(json.dumps([dsa(9902, "pw-web")]))
    env = cli_env(traffic, tmp_path)
    for argv in (["inventory", "validate", str(inventory)], ["feeds", "import", str(feed)]):
        done = cli(env, *argv)
        assert done.returncode == 0, done.stdout + done.stderr

    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        applied = apply_approved(env, campaign, inventory, timeout=300)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert run_status(env)["state"] == "completed"
        state, records = journal(env)
        assert state == "completed", state
        built = next(r.payload for r in records
                     if r.step_id.endswith("-build_image") and r.event == "succeeded")  # fmt: skip
        assert built["image_version"] == "web-image@2", built
        tested = next(r.payload for r in records
                      if r.step_id.endswith("-test_image") and r.event == "succeeded")  # fmt: skip
        assert "test instance booted and passed" in tested["detail"], tested
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
    assert run_status(env, records[0].run_id)["state"] == "rolled_back"
    assert _image_versions(traffic) == dict.fromkeys(traffic.hosts, str(image / "1" / "root"))
    print(f"image_rebuild via apply --real, then rollback: {report.requests} requests, "
          f"{report.failed} failed")  # fmt: skip
    assert report.requests > 2000
    assert report.failed == 0, (report.causes(), report.failures[:3], report.seconds)


def _replacements(traffic: TrafficLab, root: Path) -> dict[str, int]:
    """How many times the lab controller created each host from ``root``."""
    counts = {}
    for host in traffic.hosts:
        log = traffic.lab.host(host).dir / "replacements"
        lines = log.read_text().splitlines() if log.exists() else []
        counts[host] = sum(1 for line in lines if Path(line) == root)
    return counts


@pytest.mark.timeout(420)
def test_kill_9_during_a_replacement_then_resume_replaces_each_instance_once(
    traffic: TrafficLab, image: Path, tmp_path: Path
) -> None:
    inventory, campaign, feed = (tmp_path / n for n in ("inv.yaml", "c.yaml", "dsa.json"))
    write_image_inventory(traffic, image, inventory)
    campaign.write_text(IMAGE_CAMPAIGN)
    feed.write_text(json.dumps([dsa(9902, "pw-web")]))
    env = cli_env(traffic, tmp_path)
    assert cli(env, "feeds", "import", str(feed)).returncode == 0
    new_root = image / "2" / "root"
    # Version 2 of every store is at the same path: count from here on.
    before = _replacements(traffic, new_root)

    def replacing_the_third(records: list[Any]) -> bool:
        started = [r for r in records if r.step_id.endswith("-replace") and r.event == "started"]
        return len(started) >= 3

    submit_and_approve(env, campaign, inventory)
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        argv = ["apply", str(campaign), "-i", str(inventory), "--real"]
        # Killed while the lab controller re-creates the third instance from version 2.
        run_id = kill_apply_when(env, argv, replacing_the_third, after_s=0.5, timeout_s=300)
        assert journal(env, run_id)[0] == "running"
        resumed = cli(env, "resume", run_id, timeout=300)
    finally:
        report = load.stop()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    state, records = journal(env, run_id)
    assert state == "completed", state
    builds = [r for r in records if r.step_id.endswith("-build_image") and r.event == "succeeded"]
    assert len(builds) == 1 and sorted(p.name for p in image.iterdir() if p.name.isdigit()) == [
        "1", "2"
    ], "one build, one new version"  # fmt: skip
    # Each instance created from version 2 exactly once, by the controller's own record.
    after = _replacements(traffic, new_root)
    assert {h: after[h] - before[h] for h in traffic.hosts} == dict.fromkeys(traffic.hosts, 1)
    assert _image_versions(traffic) == dict.fromkeys(traffic.hosts, str(new_root))
    # None left drained or at a lowered weight in HAProxy.
    real = traffic.real
    assert real is not None
    stats = parse_show_stat(traffic.loop.run(traffic.driver().api.command("show stat")))
    web = {s.server: (s.status, s.weight) for s in stats if s.backend == "web"}
    assert web == dict.fromkeys(traffic.hosts, ("UP", 100)), web
    versions = {h: traffic.loop.run(real.packages.installed(h, ["pw-web"])) for h in traffic.hosts}
    assert versions == {h: {"pw-web": "1.0-2"} for h in traffic.hosts}
    print(f"image_rebuild kill -9 in a replacement, then resume: {report.requests} requests, "
          f"{report.failed} failed")  # fmt: skip
    assert report.failed == 0, (report.causes(), report.failures[:3])


@pytest.mark.timeout(300)
def test_an_image_whose_service_fails_to_start_stops_before_any_instance_is_replaced(
    traffic: TrafficLab, image: Path, tmp_path: Path
) -> None:
    # pw-web 1.0-3 installs cleanly (dpkg --audit passes in the tree) but its service fails
    # to start: only the booted test instance shows it.
    inventory, campaign, feed = (tmp_path / n for n in ("inv.yaml", "c.yaml", "dsa.json"))
    write_image_inventory(traffic, image, inventory)
    campaign.write_text(IMAGE_CAMPAIGN)
    feed.write_text(json.dumps([dsa(9906, "pw-web", fixed="1.0-3")]))
    env = cli_env(traffic, tmp_path)
    assert cli(env, "feeds", "import", str(feed)).returncode == 0
    before = _image_versions(traffic)
    replaced = _replacements(traffic, image / "2" / "root")

    applied = apply_approved(env, campaign, inventory, timeout=240)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    state, records = journal(env)
    # The group stopped at its test; the run ended, with that failure.
    assert state == "completed_with_failures", state
    failed = next(r.payload for r in records
                  if r.step_id.endswith("-test_image") and r.event == "failed")  # fmt: skip
    assert "test instance of version 2" in failed["error"], failed
    assert "500" in failed["error"], failed
    assert not [r for r in records if r.step_id.endswith("-replace")], "nothing was replaced"
    assert _replacements(traffic, image / "2" / "root") == replaced
    assert _image_versions(traffic) == before
    real = traffic.real
    assert real is not None
    versions = {h: traffic.loop.run(real.packages.installed(h, ["pw-web"])) for h in traffic.hosts}
    assert versions == {h: {"pw-web": "1.0-1"} for h in traffic.hosts}
    # The test instance is gone: its namespace, its processes, its folder.
    assert BOOT.netns not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                            text=True).stdout.split()  # fmt: skip
    assert not BOOT.dir.exists()
