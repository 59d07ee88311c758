"""``driver: keepalived`` configurations are checked when the inventory is read."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from patchwarden.drivers.registry import REGISTRY
from patchwarden.errors import ValidationFailed
from patchwarden.inventory import parse_inventory


def _member(app: str, peer: str, **config: Any) -> dict[str, Any]:
    settings = {
        "vip": "10.9.0.10",
        "netns": f"ns-{app}",
        "keepalived": {"config": f"/etc/{app}.conf", "pid_file": f"/run/{app}.pid"},
        "service": {"root": f"/srv/{app}", "pid_file": f"/run/{app}-haproxy.pid"},
        **config,
    }
    return {
        "id": app,
        "kind": "virtual_appliance",
        "env": "prod",
        "function": "load_balancer",
        "vendor": "haproxy",
        "firmware": "1",
        "ha_peer": peer,
        "driver": "keepalived",
        "driver_config": settings,
    }


def _problems(*assets: dict[str, Any]) -> str:
    text = yaml.safe_dump({"assets": list(assets)}, sort_keys=False)
    with pytest.raises(ValidationFailed) as failed:
        parse_inventory([("appliances.yaml", text)], drivers=REGISTRY)
    return str(failed.value)


def test_a_pair_that_agrees_is_read() -> None:
    text = yaml.safe_dump({"assets": [_member("a", "b"), _member("b", "a")]})
    loaded = parse_inventory([("appliances.yaml", text)], drivers=REGISTRY)
    assert [a.id for a in loaded.inventory.assets] == ["a", "b"]


def test_members_naming_different_virtual_ips_are_refused_with_file_line_and_field() -> None:
    message = _problems(_member("a", "b"), _member("b", "a", vip="10.9.0.11"))
    assert "appliances.yaml:" in message
    assert "assets[1].driver_config" in message
    assert "vip 10.9.0.11 differs from its ha_peer a's (10.9.0.10)" in message
    assert "both members of a pair carry the same virtual IP" in message


def test_a_peer_on_another_driver_is_refused() -> None:
    other = {**_member("b", "a"), "driver": "sim", "driver_config": {}}
    message = _problems(_member("a", "b"), other)
    assert "ha_peer b is driven by 'sim'" in message, message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vip": "not-an-address"}, "driver_config.vip"),
        ({"netns": "bad name; rm"}, "driver_config.netns"),
        (
            {"keepalived": {"config": "relative.conf", "pid_file": "/run/x.pid"}},
            "driver_config.keepalived.config",
        ),  # fmt: skip
        ({"colour": "red"}, "driver_config.colour"),
        ({"failover_timeout_s": 0}, "driver_config.failover_timeout_s"),
    ],
)
def test_wrong_settings_name_their_field(change: dict[str, Any], field: str) -> None:
    message = _problems(_member("a", "b", **change), _member("b", "a"))
    assert f"assets[0].{field}" in message, message
