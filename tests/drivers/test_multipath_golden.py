"""Golden cases of the multipath facts: ``multipath -ll`` output in, maps and paths out.

The inputs follow the layouts device-mapper-multipath documents (Red Hat's DM Multipath
guides, NetApp's host utilities); no multipath runs here (the lab has no dm-multipath).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

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
