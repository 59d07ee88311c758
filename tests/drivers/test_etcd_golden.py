"""etcd's answers parsed, and the cluster as patchwarden sees it, with no etcd running.

Golden cases (``tests/golden/etcd/<case>.json``: etcd's JSON in, value out) hold answers of
etcd 3.4's JSON gateway and of ``etcdctl --write-out=json``; the real driver is held to the
cluster conformance suite against a real three-member cluster in ``tests/lab``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from patchwarden.domain.assets import Cluster
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.etcd import (
    EndpointStatus,
    EtcdClusters,
    EtcdMember,
    check_answer,
    cluster_status,
    parse_health,
    parse_members,
    parse_status,
)
from patchwarden.drivers.real import real_drivers
from patchwarden.drivers.registry import REGISTRY
from patchwarden.errors import DriverError, ValidationFailed
from patchwarden.inventory import read_inventory

GOLDEN = Path(__file__).parent.parent / "golden" / "etcd"


def _parse(call: str, data: Any) -> Any:
    match call:
        case "member list":
            return [asdict(m) | {"client_urls": list(m.client_urls)} for m in parse_members(data)]
        case "status":
            return asdict(parse_status(data))
        case "health":
            return parse_health(data)
        case "error":
            with pytest.raises(DriverError) as failed:
                check_answer(data, "move leader")
            return str(failed.value)
    raise AssertionError(f"no parser for {call!r}")


@pytest.mark.parametrize("case", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert _parse(data["call"], data["input"]) == data["expected"]


def test_golden_cases_cover_every_parser() -> None:
    calls = {json.loads(p.read_text())["call"] for p in GOLDEN.glob("*.json")}
    assert calls == {"member list", "status", "health", "error"}


ENDPOINTS = {"a": "http://10.0.0.1:2379", "b": "http://10.0.0.2:2379", "c": "http://10.0.0.3:2379"}
MEMBERS = tuple(
    EtcdMember(i, f"etcd-{n}", (ENDPOINTS[n],)) for i, n in ((11, "a"), (22, "b"), (33, "c"))
)


def _st(member: int, leader: int, index: int = 100) -> EndpointStatus:
    return EndpointStatus(member, leader, index, "3.4.23")


def test_a_healthy_cluster_names_its_leader_and_survives_any_one_member() -> None:
    statuses = {"a": _st(11, 22), "b": _st(22, 22, 101), "c": _st(33, 22)}
    status = cluster_status(ENDPOINTS, MEMBERS, statuses, dict.fromkeys(ENDPOINTS, True))
    assert status.leader == "b" and status.healthy == ("a", "b", "c") and status.quorum == 2
    assert all(status.survives_without(m) for m in "abc")
    assert [m.raft_index for m in status.members] == [100, 101, 100]


def test_a_member_down_leaves_no_room_for_another() -> None:
    statuses = {"a": _st(11, 22), "b": _st(22, 22), "c": None}
    status = cluster_status(ENDPOINTS, MEMBERS, statuses, {"a": True, "b": True, "c": False})
    assert status.healthy == ("a", "b")
    assert status.survives_without("c")
    assert not status.survives_without("a") and not status.survives_without("b")
    assert status.member("c") is not None and status.member("c").raft_index is None


def test_answering_without_health_is_unhealthy_and_its_leader_vote_does_not_count() -> None:
    # A member cut off from the others still answers its status, naming a stale leader.
    statuses = {"a": _st(11, 11), "b": _st(22, 33), "c": _st(33, 33)}
    status = cluster_status(ENDPOINTS, MEMBERS, statuses, {"a": False, "b": True, "c": True})
    assert status.leader == "c" and status.healthy == ("b", "c")


def test_no_leader_while_no_healthy_member_names_one() -> None:
    statuses = {"a": _st(11, 0), "b": None, "c": None}
    status = cluster_status(ENDPOINTS, MEMBERS, statuses, {"a": False, "b": False, "c": False})
    assert status.leader is None and status.healthy == ()


def test_quorum_counts_members_the_inventory_forgot() -> None:
    five = (*MEMBERS, EtcdMember(44, "x", ("http://10.0.0.4:2379",)), EtcdMember(55, "y", ()))
    statuses = {"a": _st(11, 22), "b": _st(22, 22), "c": _st(33, 22)}
    status = cluster_status(ENDPOINTS, five, statuses, dict.fromkeys(ENDPOINTS, True))
    assert status.quorum == 3
    assert not status.survives_without("a"), "3 healthy of 5 known: none may go"


INVENTORY = """\
environments: [dev]
assets:
  - {{id: etcd-1, kind: vm, env: dev}}
  - {{id: etcd-2, kind: vm, env: dev}}
  - {{id: etcd-3, kind: vm, env: dev}}
  - id: etcd-main
    kind: cluster
    env: dev
    members: [etcd-1, etcd-2, etcd-3]
    driver: etcd
    driver_config:
      endpoints: {endpoints}
"""


def _inventory(tmp_path: Path, endpoints: dict[str, str]) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.format(endpoints=json.dumps(endpoints)))
    return path


def test_an_inventory_cluster_gets_the_etcd_driver(tmp_path: Path) -> None:
    endpoints = {f"etcd-{i}": f"https://10.0.0.{i}:2379" for i in (1, 2, 3)}
    loaded = read_inventory([_inventory(tmp_path, endpoints)], drivers=REGISTRY)
    cluster = loaded.inventory.by_id["etcd-main"]
    assert isinstance(cluster, Cluster) and cluster.driver == "etcd"
    drivers = real_drivers(loaded.inventory)
    assert isinstance(drivers.clusters, EtcdClusters)
    assert list(drivers.clusters.clusters) == ["etcd-main"]


@pytest.mark.parametrize(
    ("endpoints", "says"),
    [
        ({"etcd-1": "http://10.0.0.1:2379", "etcd-2": "http://10.0.0.2:2379"}, "etcd-3"),
        (
            {
                **{f"etcd-{i}": f"http://10.0.0.{i}:2379" for i in (1, 2, 3)},
                "etcd-9": "http://10.0.0.9:2379",
            },
            "etcd-9 not among the members",
        ),  # fmt: skip
        ({f"etcd-{i}": f"10.0.0.{i}:2379" for i in (1, 2, 3)}, "endpoints"),
    ],
)
def test_a_bad_driver_config_names_file_line_and_field(
    tmp_path: Path, endpoints: dict[str, str], says: str
) -> None:
    path = _inventory(tmp_path, endpoints)
    with pytest.raises(ValidationFailed) as failed:
        read_inventory([path], drivers=REGISTRY)
    problems = failed.value.problems
    assert any(says in str(p) and p.file == str(path) and p.line > 0 for p in problems), problems


def test_a_cluster_it_does_not_drive_is_a_driver_error() -> None:
    drivers = real_drivers(Inventory(assets=()))
    assert drivers.clusters is None
    clusters = EtcdClusters({})
    with pytest.raises(DriverError, match="no etcd cluster"):
        asyncio.run(clusters.status("etcd-main"))
