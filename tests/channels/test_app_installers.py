"""Application installers for real, on this machine through the local transport.

``venv``: a real virtual environment, and pip installing exact versions of wheels built
here from a real index on loopback. ``release_dir``: real tarballs downloaded over HTTP,
their SHA-256 checked, unpacked and switched to with a real symlink rename, while a reader
keeps resolving ``current`` and never finds it missing. Then the whole path as a user runs
it: ``channels check`` writes the campaign, ``apply --real`` installs the new version and
``rollback`` puts the old one back. The lab test (``tests/lab``) does the same over SSH.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.drivers.app_release import ReleaseDirInstaller, ReleaseDirSettings
from patchwarden.drivers.app_venv import VenvInstaller, VenvSettings
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import DriverError
from patchwarden.testing.channels import (
    ChannelServer,
    build_release,
    build_wheel,
    write_release_feed,
    write_simple_index,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChannelServer]:
    root = tmp_path / "www"
    with ChannelServer(root) as channel_server:
        for version in ("1.0", "1.1"):
            build_wheel(root / "files", "shop", version, {"shop/__init__.py": f"V = {version!r}\n"})
        write_simple_index(root / "simple", root / "files", channel_server.url + "/files/")
        tarballs = {
            v: build_release(root / "releases", "gateway", v, {"status": f"ok gateway {v}\n"})
            for v in ("3.9.0", "3.10.0")
        }
        write_release_feed(root / "feed.json", tarballs, channel_server.url + "/releases/")
        yield channel_server


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_venv_installs_exact_versions_and_goes_back(server: ChannelServer, tmp_path: Path) -> None:
    venv = tmp_path / "srv" / "venv"
    settings = VenvSettings(venv=str(venv), index=server.url + "/simple/")
    installer = VenvInstaller(LocalTransport(), settings, settings.index or "", "shop")

    async def scenario() -> list[str | None]:
        seen = [await installer.installed("here")]  # no venv yet
        await installer.install("here", "1.1")
        seen.append(await installer.installed("here"))
        await installer.install("here", "1.0")  # a rollback is an install of the old one
        seen.append(await installer.installed("here"))
        return seen

    assert asyncio.run(scenario()) == [None, "1.1", "1.0"]
    code = "import shop; print(shop.V)"
    ran = subprocess.run([venv / "bin/python", "-c", code], capture_output=True, text=True)
    assert ran.stdout.strip() == "1.0"
    with pytest.raises(DriverError):
        asyncio.run(installer.install("here", "9.9"))  # not on the index: pip fails, said so


def _release_installer(server: ChannelServer, root: Path) -> ReleaseDirInstaller:
    settings = ReleaseDirSettings(root=str(root), feed=server.url + "/feed.json")
    return ReleaseDirInstaller(LocalTransport(), settings, settings.feed or "")


@pytest.mark.timeout(120)
def test_release_dir_switches_current_atomically_and_back(
    server: ChannelServer, tmp_path: Path
) -> None:
    root = tmp_path / "opt" / "gateway"
    installer = _release_installer(server, root)
    asyncio.run(installer.install("here", "3.9.0"))
    assert (root / "current" / "status").read_text() == "ok gateway 3.9.0\n"

    # A reader resolving `current` all through the switch never finds it missing.
    misses: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                (root / "current" / "status").read_text()
            except OSError as error:
                misses.append(str(error))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in ("3.10.0", "3.9.0", "3.10.0", "3.9.0", "3.10.0"):
            asyncio.run(installer.install("here", version))
    finally:
        stop.set()
        reader.join()
    assert misses == []
    assert os.readlink(root / "current") == "releases/3.10.0"
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["3.10.0", "3.9.0"]
    assert asyncio.run(installer.installed("here")) == "3.10.0"


def test_release_dir_refuses_a_download_whose_sha256_differs(
    server: ChannelServer, tmp_path: Path
) -> None:
    root = tmp_path / "opt" / "gateway"
    installer = _release_installer(server, root)
    asyncio.run(installer.install("here", "3.9.0"))
    tarball = tmp_path / "www" / "releases" / "gateway-3.10.0.tar.gz"
    tarball.write_bytes(tarball.read_bytes() + b"tampered")
    with pytest.raises(DriverError, match="SHA-256 .* differs from the feed's"):
        asyncio.run(_release_installer(server, root).install("here", "3.10.0"))
    assert os.readlink(root / "current") == "releases/3.9.0"
    assert not (root / "releases" / "3.10.0").exists()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=200, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_channel_check_then_apply_real_then_rollback(server: ChannelServer, tmp_path: Path) -> None:
    venv, gateway = tmp_path / "shop-venv", tmp_path / "gateway"
    installer = VenvInstaller(
        LocalTransport(), VenvSettings(venv=str(venv), index=server.url + "/simple/"),
        server.url + "/simple/", "shop",
    )  # fmt: skip
    asyncio.run(installer.install("here", "1.0"))
    asyncio.run(_release_installer(server, gateway).install("here", "3.9.0"))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f"""\
environments: [dev, prod]
assets:
  - {{id: app-host, kind: vm, env: dev, connection: {{transport: local}}}}
  - id: shop
    kind: application
    env: dev
    version: "1.0"
    update_channel: auto
    channel: {{type: pypi, index: "{server.url}/simple/"}}
    driver: venv
    driver_config: {{venv: "{venv}"}}
    runs_on: [app-host]
  - id: gateway
    kind: application
    env: dev
    version: "3.9.0"
    update_channel: auto
    channel: {{type: release_feed, url: "{server.url}/feed.json"}}
    driver: release_dir
    driver_config: {{root: "{gateway}"}}
    runs_on: [app-host]
""")
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}"}
    checked = _cli(env, "channels", "check", "-i", str(inventory), "--format", "json",
                   "--campaigns", str(tmp_path / "campaigns"))  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {r["app"]: r["action"] for r in json.loads(checked.stdout)} == {
        "shop": "campaign", "gateway": "campaign",
    }  # fmt: skip
    for campaign in ("shop-1.1.yaml", "gateway-3.10.0.yaml"):
        applied = _cli(env, "apply", str(tmp_path / "campaigns" / campaign), "-i",
                       str(inventory), "--real")  # fmt: skip
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert asyncio.run(installer.installed("here")) == "1.1"
    assert os.readlink(gateway / "current") == "releases/3.10.0"

    run_id = _latest_run(env)
    rolled = _cli(env, "rollback", run_id)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert os.readlink(gateway / "current") == "releases/3.9.0"
    assert asyncio.run(installer.installed("here")) == "1.1"  # another run: left as it is


def _latest_run(env: dict[str, str]) -> str:
    from patchwarden.store import open_store

    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        return run.id


def test_apply_real_refuses_an_application_without_an_installer(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("""\
environments: [dev]
assets:
  - {id: app-host, kind: vm, env: dev, connection: {transport: local}}
  - {id: shop, kind: application, env: dev, version: "1.0", runs_on: [app-host]}
""")
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "name: shop 1.1\ngroups: {shop: {select: {ids: [app-host]}, strategy: rolling}}\n"
        "applications: [{app: shop, version: '1.1'}]\n"
    )
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}"}
    refused = _cli(env, "apply", str(campaign), "-i", str(inventory), "--real")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "shop.driver: step patch of app-host installs application 'shop'" in refused.stderr
    assert "release_dir" in refused.stderr and "venv" in refused.stderr
    wrong = campaign.read_text().replace("app: shop", "app: shopp")
    campaign.write_text(wrong)
    refused = _cli(env, "plan", str(campaign), "-i", str(inventory))
    assert refused.returncode == 2
    assert "c.yaml:3: applications[0].app: no application 'shopp'" in refused.stderr


@pytest.mark.timeout(120)
def test_release_dir_prunes_old_releases_but_never_current_or_the_rollback_target(
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    versions = ("1.0", "1.1", "1.2", "1.3")
    with ChannelServer(www) as channel_server:
        tarballs = {
            v: build_release(www / "releases", "gateway", v, {"status": f"ok gateway {v}\n"})
            for v in versions
        }
        write_release_feed(www / "feed.json", tarballs, channel_server.url + "/releases/")
        root = tmp_path / "opt" / "gateway"

        def installer(keep: int | None) -> ReleaseDirInstaller:
            settings = ReleaseDirSettings(
                root=str(root), feed=channel_server.url + "/feed.json", keep=keep
            )
            return ReleaseDirInstaller(LocalTransport(), settings, settings.feed or "")

        def on_disk() -> list[str]:
            return sorted(p.name for p in (root / "releases").iterdir())

        for version in versions:  # keep: null keeps every release
            asyncio.run(installer(None).install("here", version))
        assert on_disk() == ["1.0", "1.1", "1.2", "1.3"]
        # Back to 1.0 with keep 1: current (1.0) and the rollback target (1.3) both stay.
        pruning = installer(1)
        asyncio.run(pruning.install("here", "1.0"))
        assert on_disk() == ["1.0", "1.3"] and pruning.prune_errors == {}
        assert os.readlink(root / "current") == "releases/1.0"
        # keep 3: counted by when each release was unpacked (1.0 was first, so it goes once
        # it is neither current nor the rollback target); a half-unpacked directory (no
        # marker) is no release and is left alone.
        (root / "releases" / ".9.9.unpacking").mkdir()
        asyncio.run(installer(3).install("here", "1.1"))
        assert on_disk() == [".9.9.unpacking", "1.0", "1.1", "1.3"]  # after 1.1: 1.0 protected
        asyncio.run(installer(3).install("here", "1.2"))
        assert on_disk() == [".9.9.unpacking", "1.1", "1.2", "1.3"]
        assert (root / "current" / "status").read_text() == "ok gateway 1.2\n"
