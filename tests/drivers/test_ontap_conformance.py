"""The ONTAP storage driver: golden answers, its settings, and the conformance suites.

No NetApp array exists here. The driver is tested against :class:`OntapReplay`, an HTTPS
server on loopback that answers with the JSON ONTAP's REST documentation shows and
enforces ONTAP's documented failover rules (takeover only while both nodes are up and the
partner can take over; giveback only once the node waits for it; an image update only on
a node taken over). What this proves: the driver's requests and its reading of ONTAP's
answers, TLS verification and authentication, and that it keeps the storage protocol's
rules. What it does not: the timing and exact answers of a real ONTAP release.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance import FirmwareCase, FirmwareConformance, StorageCase, StorageConformance

from patchwarden.domain.assets import StorageSystem
from patchwarden.drivers.ontap import (
    OntapCluster,
    OntapSettings,
    OntapSystems,
    parse_cluster,
    parse_job,
    parse_nodes,
)
from patchwarden.errors import DriverError
from patchwarden.testing.ontap_replay import OntapReplay, self_signed

GOLDEN = sorted((Path(__file__).parents[1] / "golden" / "ontap").glob("*.json"))
PASSWORD = "s3cret-for-the-replay"
PACKAGE = "https://repo.example.test/ontap/{version}_q_image.tgz"
PARTS = {
    "san-a1": ("cluster1-01", "ha1"),
    "san-a2": ("cluster1-02", "ha1"),
    "san-b1": ("cluster1-03", "ha2"),
    "san-b2": ("cluster1-04", "ha2"),
}


def _answer(call: str, data: Any) -> Any:
    if call == "GET /api/cluster":
        return dataclasses.asdict(parse_cluster(data))
    if call == "GET /api/cluster/nodes":
        return [{**dataclasses.asdict(n), "serving": n.serving} for n in parse_nodes(data)]
    job = parse_job(data)
    return {**dataclasses.asdict(job), "done": job.done}


@pytest.mark.parametrize("case", GOLDEN, ids=[c.stem for c in GOLDEN])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert json.loads(json.dumps(_answer(data["call"], data["input"]))) == data["expected"]


@pytest.fixture(scope="module")
def array(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OntapReplay, Path]]:
    cert, key = self_signed(tmp_path_factory.mktemp("ontap"))
    replay = OntapReplay(
        cert,
        key,
        username="patchwarden",
        password=PASSWORD,
        pairs=(("cluster1-01", "cluster1-02"), ("cluster1-03", "cluster1-04")),
        packages={PACKAGE.replace("{version}", "9.14.1P2"): "9.14.1P2"},
    )
    with replay:
        yield replay, cert


@pytest.fixture
def run() -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return run_one


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def _cluster(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch, **changes: Any
) -> OntapCluster:
    replay, cert = array
    monkeypatch.setenv("PW_TEST_ONTAP_PASSWORD", PASSWORD)
    raw: dict[str, Any] = {
        "address": replay.url,
        "username": "patchwarden",
        "password_env": "PW_TEST_ONTAP_PASSWORD",
        "ca_file": str(cert),
        "package_url": PACKAGE,
        "poll_s": 0.01,
        "failover_timeout_s": 10,
        **changes,
    }
    return OntapCluster("san-01", OntapSettings.model_validate(raw), PARTS, sleep=_no_wait)


@pytest.fixture
def systems(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[OntapSystems]:
    drivers = OntapSystems({"san-01": _cluster(array, monkeypatch)})
    yield drivers
    asyncio.run(drivers.close())


class TestOntapStorage(StorageConformance):
    @pytest.fixture
    def storage_driver(self, systems: OntapSystems) -> OntapSystems:
        return systems

    @pytest.fixture
    def storage_case(self) -> StorageCase:
        return StorageCase("san-01", "ha1", ("san-a1", "san-a2"))


class TestOntapNodeSoftware(FirmwareConformance):
    """A node taken over takes a new release; its partner, serving both, refuses it."""

    @pytest.fixture
    def firmware_driver(self, systems: OntapSystems) -> Iterator[OntapSystems]:
        asyncio.run(systems.set_path("san-01", "san-b1", False))
        yield systems
        asyncio.run(systems.set_path("san-01", "san-b1", True))

    @pytest.fixture
    def firmware_case(self, array: tuple[OntapReplay, Path]) -> FirmwareCase:
        replay, _ = array
        replay.packages.setdefault(PACKAGE.replace("{version}", "9.13.1P4"), "9.13.1P4")
        return FirmwareCase(target="san-b1", new="9.14.1P2", in_service="san-b2")


def test_a_takeover_is_refused_when_the_partner_cannot_take_over(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    replay, _ = array
    cluster = _cluster(array, monkeypatch)
    replay.nodes["cluster1-02"].ha_enabled = False
    try:
        with pytest.raises(DriverError, match="cluster1-02 cannot take over cluster1-01"):
            asyncio.run(cluster.set_path("san-01", "san-a1", False))
    finally:
        replay.nodes["cluster1-02"].ha_enabled = True
    assert replay.nodes["cluster1-01"].state == "up", "a refused takeover changes nothing"
    assert not any("takeover" in target for _, target in replay.requests[-3:])


def test_the_password_comes_from_where_the_inventory_says_and_is_checked(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("wrong\n")
    cluster = _cluster(array, monkeypatch, password_env=None, password_file=str(secret))
    with pytest.raises(DriverError, match="not authorized") as refused:
        asyncio.run(cluster.nodes())
    assert "wrong" not in str(refused.value)
    monkeypatch.delenv("PW_UNSET_VARIABLE", raising=False)
    unset = _cluster(array, monkeypatch, password_env="PW_UNSET_VARIABLE")
    with pytest.raises(DriverError, match="PW_UNSET_VARIABLE .* is not set"):
        asyncio.run(unset.nodes())


def test_tls_is_verified_by_default(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(array, monkeypatch, ca_file=None)
    with pytest.raises(DriverError, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
        asyncio.run(cluster.nodes())
    lab = _cluster(array, monkeypatch, ca_file=None, verify_tls=False)
    assert len(asyncio.run(lab.nodes())) == 4


def test_cluster_and_node_releases_are_read(
    array: tuple[OntapReplay, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(array, monkeypatch)
    info = asyncio.run(cluster.cluster())
    assert (info.name, info.release) == ("cluster1", "9.13.1P4")
    assert asyncio.run(cluster.firmware("san-a1")) == "9.13.1P4"


def test_settings_say_where_the_password_is_and_name_controller_parts_only() -> None:
    system = StorageSystem.model_validate(
        {
            "id": "san-01",
            "kind": "storage_system",
            "env": "prod",
            "parts": [
                {"id": "a", "type": "controller", "firmware": "9", "redundancy_group": "g"},
                {"id": "sw", "type": "san_switch", "firmware": "9", "redundancy_group": "f"},
            ],
        }
    )
    base = {"address": "cluster1.example.com", "username": "pw"}
    with pytest.raises(ValueError, match="exactly one of password_env, password_file"):
        OntapSettings.model_validate(base)
    with pytest.raises(ValueError, match="exactly one of password_env, password_file"):
        OntapSettings.model_validate({**base, "password_env": "A", "password_file": "/f"})
    with pytest.raises(ValueError, match="sw are not controllers"):
        OntapSettings.model_validate({**base, "password_env": "PW"}, context={"asset": system})
    settings = OntapSettings.model_validate({**base, "password_env": "PW"})
    assert settings.verify_tls and settings.base_url() == "https://cluster1.example.com"
