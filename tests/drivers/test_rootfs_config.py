"""``driver: rootfs`` configurations are checked when the inventory is read."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from patchwarden.drivers.registry import REGISTRY
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
    ],
)
def test_wrong_settings_name_file_line_and_field(change: dict[str, Any], field: str) -> None:
    text = yaml.safe_dump({"assets": [_image(**change)]}, sort_keys=False)
    with pytest.raises(ValidationFailed) as failed:
        parse_inventory([("images.yaml", text)], drivers=REGISTRY)
    assert "images.yaml:" in str(failed.value)
    assert f"assets[0].{field}" in str(failed.value), str(failed.value)
