"""An application updated from its channel on six lab hosts behind HAProxy, by the command line.

Each lab host serves what its root holds: here its page comes from the application's
``current`` release (``/opt/pw-app/current/status``), so the web service is the application
and its health follows the release ``current`` points at. A release feed of real tarballs
is served on loopback. ``patchwarden channels check`` finds the newer version and writes the
campaign (``auto``, in dev: no change needed); ``patchwarden apply --real`` rolls it over
the six hosts behind HAProxy (drain, install over SSH with the release_dir driver, health,
enable) while 40 clients keep sending requests, none of which may fail. Then a release
whose page fails its health check is rolled out and rolled back by the engine.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_run import cli

from patchwarden.drivers.app_release import ReleaseDirInstaller, ReleaseDirSettings
from patchwarden.store import open_store
from patchwarden.testing.channels import ChannelServer, build_release, write_release_feed
from patchwarden.testing.lab_controller import STATUS_FILE
from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import cli_env, write_inventory
from patchwarden.testing.traffic_load import LoadProcess

APP_ROOT = "/opt/pw-app"
VERSIONS = {"1.0.0": "ok pw-app 1.0.0", "1.1.0": "ok pw-app 1.1.0", "1.2.0": "failed pw-app 1.2.0"}


@pytest.fixture
def app_lab(traffic: TrafficLab, tmp_path: Path) -> Iterator[tuple[ChannelServer, Path]]:
    """Hosts serving pw-app 1.0.0 from a release directory; put back as they were after."""
    traffic.reset()
    www = tmp_path / "www"
    server = ChannelServer(www)
    originals = {h: (traffic.lab.host(h).root / STATUS_FILE).read_text() for h in traffic.hosts}
    try:
        tarballs = {
            v: build_release(www / "releases", "pw-app", v, {"status": f"{page}\n"})
            for v, page in VERSIONS.items()
        }
        write_release_feed(
            www / "feed.json", {"1.0.0": tarballs["1.0.0"]}, server.url + "/releases/"
        )
        assert traffic.real is not None
        installer = ReleaseDirInstaller(
            traffic.real.transport,
            ReleaseDirSettings(root=APP_ROOT, feed=server.url + "/feed.json"),
            server.url + "/feed.json",
        )
        for host in traffic.hosts:  # the first install, over SSH, by the driver itself
            traffic.loop.run(installer.install(host, "1.0.0"))
            status = traffic.lab.host(host).root / STATUS_FILE
            status.unlink()
            # Relative, so it resolves inside the host's root from outside the chroot too.
            status.symlink_to(Path("../../..") / APP_ROOT.lstrip("/") / "current" / "status")
        traffic.wait_servers_up()
        write_release_feed(
            www / "feed.json", {v: tarballs[v] for v in ("1.0.0", "1.1.0")},
            server.url + "/releases/", notes_url="https://vendor.example/pw-app/",
        )  # fmt: skip
        yield server, www
    finally:
        server.stop()
        for host, text in originals.items():
            root = traffic.lab.host(host).root
            status = root / STATUS_FILE
            status.unlink(missing_ok=True)
            status.write_text(text)
            shutil.rmtree(root / APP_ROOT.lstrip("/"), ignore_errors=True)
        traffic.reset()


def _inventory(traffic: TrafficLab, work: Path, feed: str, version: str = "1.0.0") -> Path:
    path = work / "inventory.yaml"
    write_inventory(traffic, path, metrics=False)
    data = yaml.safe_load(path.read_text())
    data["assets"].append(
        {
            "id": "pw-app",
            "kind": "application",
            "env": traffic.lab.config.env,
            "version": version,
            "update_channel": "auto",
            "channel": {"type": "release_feed", "url": feed},
            "driver": "release_dir",
            "driver_config": {"root": APP_ROOT},
            "runs_on": traffic.hosts,
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _current(traffic: TrafficLab) -> dict[str, str]:
    return {
        h: os.readlink(traffic.lab.host(h).root / APP_ROOT.lstrip("/") / "current")
        for h in traffic.hosts
    }


@pytest.mark.timeout(600)
def test_channel_check_then_rolling_update_behind_haproxy_loses_no_request(
    traffic: TrafficLab, app_lab: tuple[ChannelServer, Path], tmp_path: Path
) -> None:
    server, _ = app_lab
    env = cli_env(traffic, tmp_path)
    inventory = _inventory(traffic, tmp_path, server.url + "/feed.json")
    campaigns = tmp_path / "campaigns"
    checked = cli(env, "channels", "check", "-i", str(inventory), "--format", "json",
                  "--campaigns", str(campaigns))  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [row] = json.loads(checked.stdout)
    assert (row["action"], row["latest"]) == ("campaign", "1.1.0"), row

    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        applied = cli(env, "apply", str(campaigns / "pw-app-1.1.0.yaml"), "-i", str(inventory),
                      "--real", timeout=480)  # fmt: skip
    finally:
        report = load.stop()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _current(traffic) == {h: "releases/1.1.0" for h in traffic.hosts}
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        started = [e.step_id for e in store.events(run.id) if e.event == "started" and e.step_id]
    for host in traffic.hosts:
        mine = [s.rsplit("-", 1)[-1] for s in started if f"/{host}/" in s]
        assert mine[0] == "drain" and mine[-1] == "enable" and "patch" in mine, (host, mine)
    print(f"app update behind HAProxy: {report.requests} requests, {report.failed} failed")
    assert report.requests > 1000
    assert report.failed == 0, report.causes()


@pytest.mark.timeout(600)
def test_a_release_failing_its_health_check_is_switched_back(
    traffic: TrafficLab, app_lab: tuple[ChannelServer, Path], tmp_path: Path
) -> None:
    server, www = app_lab
    tarball = www / "releases" / "pw-app-1.2.0.tar.gz"
    write_release_feed(www / "feed.json", {"1.2.0": tarball}, server.url + "/releases/")
    env = cli_env(traffic, tmp_path)
    inventory = _inventory(traffic, tmp_path, server.url + "/feed.json")
    campaign = tmp_path / "bad.yaml"
    campaign.write_text(
        yaml.safe_dump({
            "name": "pw-app 1.2.0",
            "groups": {"app": {"select": {"ids": traffic.hosts}, "strategy": "rolling"}},
            "applications": [{"app": "pw-app", "version": "1.2.0"}],
            "rate": {"max_errors": 0},
        })
    )  # fmt: skip
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=480)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    # The first host got 1.2.0, failed its health check and was switched back; the others
    # were never touched, and every server is in the pool again.
    assert _current(traffic) == {h: "releases/1.0.0" for h in traffic.hosts}
    first = traffic.hosts[0]
    assert (traffic.lab.host(first).root / APP_ROOT.lstrip("/") / "releases/1.2.0").is_dir()
    driver = traffic.driver()
    for host in traffic.hosts:
        assert traffic.loop.run(driver.state("web", host)) == "ready", host


@pytest.mark.timeout(600)
def test_an_application_packaged_for_debian_rolls_with_the_apt_installer(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    """The lab's web service as an application (``driver: apt``), updated to an exact build."""
    traffic.reset()
    env = cli_env(traffic, tmp_path)
    path = tmp_path / "inventory.yaml"
    write_inventory(traffic, path, metrics=False)
    data = yaml.safe_load(path.read_text())
    data["assets"].append(
        {
            "id": "pw-web",
            "kind": "application",
            "env": traffic.lab.config.env,
            "version": "1.0-1",
            "driver": "apt",
            "runs_on": traffic.hosts,
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    campaign = tmp_path / "pw-web.yaml"
    campaign.write_text(
        yaml.safe_dump({
            "name": "pw-web 1.0-2",
            "groups": {"web": {"select": {"ids": traffic.hosts}, "strategy": "rolling"}},
            "applications": [{"app": "pw-web", "version": "1.0-2"}],
        })
    )  # fmt: skip
    load = LoadProcess(traffic.setup.address, traffic.setup.web_port, 40)
    load.start()
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(path), "--real", timeout=480)
    finally:
        report = load.stop()
    try:
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert traffic.real is not None
        for host in traffic.hosts:
            got = traffic.loop.run(traffic.real.packages.installed(host, ["pw-web"]))
            assert got == {"pw-web": "1.0-2"}, host
        print(f"apt application behind HAProxy: {report.requests} requests, {report.failed} failed")
        assert report.requests > 1000
        assert report.failed == 0, report.causes()
    finally:
        traffic.reset()
