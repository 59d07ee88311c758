"""HAProxy's runtime-API answers and request log, parsed: golden cases captured from a real
HAProxy 2.6 (``tests/golden/haproxy/<case>.json``: raw text in, value out), and the driver
config checked at load time."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.haproxy import HaproxyConfig, HaproxyDriver
from patchwarden.drivers.haproxy_stats import (
    admin_state,
    parse_show_map,
    parse_show_servers_conn,
    parse_show_servers_state,
    parse_show_stat,
)
from patchwarden.drivers.real import real_drivers
from patchwarden.drivers.traffic import HaproxyLog, HaproxyLogMetrics, LogListener, parse_httplog
from patchwarden.errors import DriverError, ValidationFailed

GOLDEN = Path(__file__).parent.parent / "golden" / "haproxy"


def _parse(command: str, text: str) -> Any:
    match command:
        case "show stat":
            return [asdict(s) for s in parse_show_stat(text)]
        case "show servers state":
            return [asdict(s) | {"state": s.state} for s in parse_show_servers_state(text)]
        case "show servers conn":
            return [asdict(s) for s in parse_show_servers_conn(text)]
        case "show map":
            return parse_show_map(text)
        case "httplog":
            return [asdict(r) if (r := parse_httplog(x)) else None for x in text.split("\n")]
    raise AssertionError(f"no parser for {command!r}")


@pytest.mark.parametrize("case", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert _parse(data["command"], data["input"]) == data["expected"]


def test_golden_cases_cover_every_parser() -> None:
    commands = {json.loads(p.read_text())["command"] for p in GOLDEN.glob("*.json")}
    assert commands == {"show stat", "show servers state", "show servers conn", "show map",
                        "httplog"}  # fmt: skip


def test_drained_server_under_load_still_has_sessions_in_the_golden_capture() -> None:
    data = json.loads((GOLDEN / "show_stat_draining_under_load.json").read_text())
    stats = {s.server: s for s in parse_show_stat(data["input"]) if s.backend == "web"}
    assert stats["lab-02"].status == "DRAIN" and stats["lab-01"].status == "UP"
    assert stats["lab-01"].counters["stot"] > 0


def test_admin_state_bits() -> None:
    assert [admin_state(b) for b in (0, 0x08, 0x10, 0x01, 0x04, 0x01 | 0x08, 0x20)] == [
        "ready", "drain", "drain", "maint", "maint", "maint", "maint",
    ]  # fmt: skip


def test_a_missing_header_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_show_stat("web,lab-01,0\n")
    with pytest.raises(ValueError):
        parse_show_servers_state("1\n")


def _lb(config: dict[str, Any], blue_green: bool = False) -> LoadBalancer:
    pool: dict[str, Any] = (
        {"name": "api", "blue_green": {"blue": ["api-1"], "green": ["api-2"]}}
        if blue_green
        else {"name": "web", "members": ["web-1", "web-2"]}
    )
    return LoadBalancer.model_validate({"id": "lb-1", "kind": "load_balancer", "env": "prod",
                                        "driver": "haproxy", "driver_config": config,
                                        "pools": [pool]})  # fmt: skip


def test_config_defaults_backends_to_pool_names() -> None:
    config = HaproxyConfig.from_asset(_lb({"socket": "/run/haproxy/admin.sock"}))
    assert config.pools["web"].members == {"web-1": "web", "web-2": "web"}
    bg = HaproxyConfig.from_asset(
        _lb({"socket": "/run/haproxy/admin.sock", "pools": {"api": {"map": "/etc/bg.map"}}}, True)
    )
    assert bg.pools["api"].members == {"api-1": "api_blue", "api-2": "api_green"}
    assert bg.pools["api"].blue_green is not None
    assert bg.pools["api"].blue_green.key == "api"


@pytest.mark.parametrize(
    ("config", "blue_green", "where"),
    [
        ({}, False, "missing `socket:` or `address:`"),
        ({"socket": "/s", "address": "10.0.0.5:9999"}, False, "both given"),
        ({"socket": "relative.sock"}, False, "driver_config.socket"),
        ({"address": "10.0.0.5"}, False, "driver_config.address"),
        ({"socket": "/s", "timeout_s": 0}, False, "driver_config.timeout_s"),
        ({"socket": "/s", "colour": "red"}, False, "driver_config.colour"),
        ({"socket": "/s", "pools": {"nope": {}}}, False, "pools.nope: no such pool"),
        (
            {"socket": "/s", "pools": {"web": {"backend": "web; shutdown"}}},
            False,
            "pools.web.backend",
        ),
        ({"socket": "/s", "pools": {"web": {"backen": "web"}}}, False, "pools.web.backen"),
        ({"socket": "/s", "pools": {"web": {"map": "/m"}}}, False, "only apply to blue-green"),
        ({"socket": "/s"}, True, "pools.api.map: a blue-green pool needs its map file"),
        ({"socket": "/s", "pools": {"api": {"map": "/m", "blue": "a b"}}}, True, "api.blue"),
        ({"via_ssh": "lb-host"}, False, "via_ssh: needs `socket:`"),
    ],
)
def test_bad_config_is_an_input_error_naming_the_field(
    config: dict[str, Any], blue_green: bool, where: str
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        HaproxyConfig.from_asset(_lb(config, blue_green))
    assert any(where in str(p) for p in failed.value.problems), failed.value


def test_the_runtime_api_is_reached_by_socket_address_or_ssh() -> None:
    tcp = HaproxyConfig.from_asset(_lb({"address": "10.0.0.5:9999"}))
    assert (tcp.address, tcp.socket) == ("10.0.0.5:9999", "")
    assert HaproxyDriver(tcp).api.where == "runtime API at 10.0.0.5:9999"
    via = HaproxyConfig.from_asset(_lb({"via_ssh": "lb-host", "socket": "/run/haproxy.sock"}))
    assert (via.via_ssh, via.socket) == ("lb-host", "/run/haproxy.sock")


def test_inventory_load_balancers_get_their_registered_driver() -> None:
    sim = _lb({}).model_copy(update={"id": "lb-sim", "driver": "sim"})
    inventory = Inventory(assets=(_lb({"socket": "/run/haproxy/admin.sock"}), sim))
    drivers = real_drivers(inventory).load_balancers
    assert list(drivers) == ["lb-1"] and isinstance(drivers["lb-1"], HaproxyDriver)


def test_commands_with_separators_are_refused_before_they_reach_haproxy() -> None:
    driver = HaproxyDriver(HaproxyConfig.from_asset(_lb({"socket": "/nonexistent/admin.sock"})))
    with pytest.raises(DriverError, match="separator"):
        asyncio.run(driver.api.command("show stat; shutdown sessions"))
    with pytest.raises(DriverError, match="does not exist"):
        asyncio.run(driver.state("web", "web-1"))
    with pytest.raises(DriverError, match="not in pool"):
        asyncio.run(driver.drain("web", "web-9"))


def test_log_metrics_give_each_member_its_own_recent_samples() -> None:
    config = HaproxyConfig.from_asset(_lb({"socket": "/s"}))
    log = HaproxyLog()
    line = ('<134>Nov 26 16:43:43 haproxy[1]: 127.0.0.1:4 [26/Nov/2026:16:43:43.320] web '
            'web/{server} 0/0/0/{ms}/{ms} {status} 98 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"')  # fmt: skip
    log.feed(line.format(server="web-1", ms=30, status=200).encode())
    log.feed(line.format(server="web-1", ms=31, status=500).encode())
    log.feed(line.format(server="web-2", ms=90, status=200).encode(), at=0.0)  # long ago
    log.feed(b"<133>Server web/web-1 is DOWN")
    metrics = HaproxyLogMetrics(log, config)
    got = asyncio.run(metrics.samples("web", "web-1", 60))
    assert [(s.ok, s.latency_ms) for s in got] == [(True, 30.0), (False, 31.0)]
    assert asyncio.run(metrics.samples("web", "web-2", 60)) == []
    assert (log.lines, log.unparsed) == (4, 1)
    with pytest.raises(DriverError):
        asyncio.run(metrics.samples("web", "web-9", 60))


def test_log_listener_receives_haproxy_lines_over_udp_in_its_own_thread() -> None:
    # A real UDP socket on loopback, fed as HAProxy's `log` line would feed it.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    listener = LogListener(f"127.0.0.1:{port}")
    config = HaproxyConfig.from_asset(_lb({"socket": "/s"}))
    metrics = HaproxyLogMetrics(listener.log, config, listener)
    line = ('<134>Nov 26 16:43:43 haproxy[1]: 127.0.0.1:4 [26/Nov/2026:16:43:43.320] web '
            'web/web-1 0/0/0/12/12 503 98 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"')  # fmt: skip
    asyncio.run(metrics.watch())
    asyncio.run(metrics.watch())  # once is once
    try:
        with pytest.raises(DriverError, match="cannot receive"):
            LogListener(f"127.0.0.1:{port}").start()  # the address is taken
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(3):
                sender.sendto(line.encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + 5
        while listener.log.lines < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        got = asyncio.run(metrics.samples("web", "web-1", 60))
        assert [(s.ok, s.latency_ms) for s in got] == [(False, 12.0)] * 3
    finally:
        listener.close()
    assert not listener.listening
