"""``driver: rootfs`` configurations are checked when the inventory is read."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwarden.drivers.registry import REGISTRY
from patchwarden.drivers.rootfs import RootfsImage, RootfsSettings
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import ValidationFailed
from patchwarden.inventory import parse_inventory


def _image(**config: Any) -> dict[str, Any]:
    settings = {"store": "/srv/images/web", "launch": ["relaunch", "{instance}", "{root}"]}
    settings.update(config)
    return {"id": "web-image", "kind": "image", "env": "dev", "driver": "rootfs",
            "driver_config": settings}  # fmt: skip


def test_a_rootfs_image_is_read() -> None:
    text = yaml.safe_dump({"assets": [_image(test=[["dpkg", "--audit"]])]})
    loaded = parse_inventory([("images.yaml", text)], drivers=REGISTRY)
    assert loaded.inventory.assets[0].driver == "rootfs"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"store": "relative/dir"}, "driver_config.store"),
        ({"launch": []}, "driver_config.launch"),
        ({"launch": "relaunch {instance}"}, "driver_config.launch"),
        ({"build_timeout_s": -1}, "driver_config.build_timeout_s"),
        ({"packer": True}, "driver_config.packer"),
        (
            {"boot": {"launch": ["boot"], "health": [{"type": "tcp", "target": "10.0.0.2:22"}]}},
            "driver_config.boot.stop",
        ),
        (
            {
                "boot": {
                    "launch": ["boot"],
                    "stop": ["halt"],
                    "health": [{"type": "command", "target": "true"}],
                }
            },
            "driver_config.boot.health",
        ),
    ],
)
def test_wrong_settings_name_file_line_and_field(change: dict[str, Any], field: str) -> None:
    text = yaml.safe_dump({"assets": [_image(**change)]}, sort_keys=False)
    with pytest.raises(ValidationFailed) as failed:
        parse_inventory([("images.yaml", text)], drivers=REGISTRY)
    assert "images.yaml:" in str(failed.value)
    assert f"assets[0].{field}" in str(failed.value), str(failed.value)


def _booting(tmp_path: Path, port: int) -> RootfsImage:
    """An image whose test instance is 'booted' by a real command and checked over TCP."""
    settings = RootfsSettings.model_validate({
        "store": str(tmp_path), "launch": ["relaunch"], "test": [],
        "boot": {
            "launch": [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('up')",
                       str(tmp_path / "{version}.booted")],
            "stop": ["touch", str(tmp_path / "{version}.stopped")],
            "health": [{"type": "tcp", "target": f"127.0.0.1:{port}", "timeout_s": 2}],
        },
    })  # fmt: skip
    return RootfsImage("web-image", settings, LocalTransport())


def test_a_version_whose_test_instance_answers_passes_and_the_instance_is_removed(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = asyncio.run(_booting(tmp_path, port).boot_test("2"))
    assert result.ok, result.detail
    assert "test instance booted and passed" in result.detail
    assert (tmp_path / "2.booted").exists() and (tmp_path / "2.stopped").exists()


def test_a_version_whose_test_instance_does_not_answer_fails_and_is_removed(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # closed again: nothing answers there
    result = asyncio.run(_booting(tmp_path, port).boot_test("3"))
    assert not result.ok
    assert result.detail.startswith("the test instance of version 3:"), result.detail
    assert (tmp_path / "3.stopped").exists(), "removed, pass or fail"
