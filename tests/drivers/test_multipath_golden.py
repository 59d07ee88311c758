"""Golden cases of the multipath facts: ``multipath -ll`` output in, maps and paths out.

The inputs follow the layouts device-mapper-multipath documents (Red Hat's DM Multipath
guides, NetApp's host utilities); no multipath runs here (the lab has no dm-multipath).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from patchwarden.domain.assets import StorageSystem
from patchwarden.drivers.multipath_facts import (
    MultipathMap,
    multipath_command,
    parse_multipath,
    single_path_maps,
    unredundant,
)
from patchwarden.errors import DriverError

CASES = sorted((Path(__file__).parents[1] / "golden" / "multipath").glob("*.json"))


def _as_dict(m: MultipathMap) -> dict[str, Any]:
    d = dataclasses.asdict(m)
    d["usable_paths"] = m.usable_paths
    d["redundant"] = m.redundant
    return d


def test_there_are_cases_of_healthy_degraded_and_failed_paths() -> None:
    cases = [json.loads(c.read_text()) for c in CASES]
    redundant = {m["redundant"] for case in cases for m in case["expected"]}
    usable = {m["usable_paths"] for case in cases for m in case["expected"]}
    assert redundant == {True, False}
    assert {0, 1, 2} <= usable


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert data["fact"] == "multipath"
    got = [_as_dict(m) for m in parse_multipath(data["input"])]
    assert json.loads(json.dumps(got)) == data["expected"]


def test_the_command_is_an_argument_vector() -> None:
    assert multipath_command() == ["multipath", "-ll"]


@pytest.mark.parametrize(
    "states,usable",
    [
        ("active ready running", True),
        ("active ghost running", True),
        ("failed faulty running", False),
        ("active ready offline", False),
        ("active shaky running", False),
        ("failed ready running", False),
        ("undef ready running", True),
    ],
)
def test_a_path_carries_io_only_when_kernel_checker_and_device_agree(
    states: str, usable: bool
) -> None:
    text = f"m (w) dm-0 V,P\n`-+- policy='round-robin 0' prio=1 status=active\n  `- 1:0:0:1 sdb 8:16 {states}\n"
    (m,) = parse_multipath(text)
    assert m.paths[0].usable is usable


def test_a_path_outside_a_map_is_an_error_naming_the_line() -> None:
    with pytest.raises(DriverError, match="line 1"):
        parse_multipath("  `- 1:0:0:1 sdb 8:16 active ready running\n")
    with pytest.raises(DriverError, match="line 1"):
        parse_multipath("`-+- policy='round-robin 0' prio=1 status=active\n")


def test_an_unknown_online_state_is_an_error() -> None:
    text = "m (w) dm-0 V,P\n`-+- policy='x' prio=1 status=active\n  `- 1:0:0:1 sdb 8:16 active ready sleeping\n"
    with pytest.raises(DriverError, match="online state"):
        parse_multipath(text)


def test_redundancy_per_host_and_lun() -> None:
    def load(stem: str) -> tuple[MultipathMap, ...]:
        data = json.loads((CASES[0].parent / f"{stem}.json").read_text())
        return parse_multipath(data["input"])

    healthy, degraded = load("alua_one_controller_down"), load("two_maps_one_degraded")
    assert unredundant(healthy) == ()
    assert [m.name for m in unredundant(degraded)] == ["mpathc"]
    found = single_path_maps({"db-01": healthy, "db-02": degraded})
    assert found == {"db-02": ("mpathc (36006016012345678a1b2c3d4e5f60709): 1 usable path",)}
    # Limited to the storage system's LUNs, db-02's other array does not count.
    assert single_path_maps({"db-02": degraded}, wwids=["36006016012345678a1b2c3d4e5f60708"]) == {}


def _golden_input(stem: str) -> str:
    text: str = json.loads((CASES[0].parent / f"{stem}.json").read_text())["input"]
    return text


def test_host_paths_run_multipath_as_an_argument_vector_and_name_thin_luns() -> None:
    from patchwarden.drivers.multipath import MultipathPaths
    from patchwarden.testing import MockTransport, Reply

    outputs = {
        "db-01": Reply(_golden_input("alua_one_controller_down")),
        "db-02": Reply(_golden_input("two_maps_one_degraded")),
        "db-03": Reply(_golden_input("daemon_message_and_no_maps")),
        "db-04": Reply("", exit_status=1, stderr="multipath: command not found\n"),
    }
    transport = MockTransport(lambda command: outputs[command.host])
    paths = MultipathPaths(transport)
    assert asyncio.run(paths.thin_luns("db-01")) == ()
    assert asyncio.run(paths.thin_luns("db-02")) == (
        "mpathc (36006016012345678a1b2c3d4e5f60709): 1 usable path",
    )
    with pytest.raises(DriverError, match="db-03: multipath -ll shows no multipath device"):
        asyncio.run(paths.thin_luns("db-03"))
    with pytest.raises(DriverError, match="db-04: multipath -ll exited 1: multipath: command"):
        asyncio.run(paths.thin_luns("db-04"))
    assert {c.argv for c in transport.commands} == {("multipath", "-ll")}
    only_other = MultipathPaths(transport, wwids=["36006016012345678a1b2c3d4e5f60708"])
    assert asyncio.run(only_other.thin_luns("db-02")) == ()


def test_the_simulated_estate_shows_hosts_a_thin_path_while_a_part_is_out() -> None:
    from patchwarden.domain.inventory import Inventory
    from patchwarden.drivers.sim.platform import PlatformState, SimPlatform
    from patchwarden.drivers.sim.state import SimTiming

    system = StorageSystem.model_validate(
        {
            "id": "san-01",
            "kind": "storage_system",
            "env": "prod",
            "hosts": ["db-01"],
            "parts": [
                {"id": "a", "type": "controller", "firmware": "9", "redundancy_group": "ha"},
                {"id": "b", "type": "controller", "firmware": "9", "redundancy_group": "ha"},
            ],
        }
    )
    state = PlatformState.from_inventory(Inventory(assets=(system,)))
    platform = SimPlatform(state, {}, SimTiming.__new__(SimTiming))
    assert asyncio.run(platform.thin_luns("db-01")) == ()
    state.path_online["a"] = False
    assert asyncio.run(platform.thin_luns("db-01")) == ("san-01/ha: 1 usable path",)
    assert asyncio.run(platform.thin_luns("db-99")) == ()
