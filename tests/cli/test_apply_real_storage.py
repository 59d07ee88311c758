"""`apply --real` on an ONTAP storage system: one HA node at a time, hosts' paths verified.

No NetApp array and no dm-multipath exist here (no SAN, no loadable kernel modules). The
array is :class:`OntapReplay`, an HTTPS server on loopback answering as ONTAP's REST API
documents and enforcing its failover rules; the attached host ``db-01`` is this machine
(``connection: local``) with a stand-in ``multipath`` command on its PATH that prints the
``multipath -ll`` output the replay writes for the array's current state (the paths through
a node taken over fail). Everything else is patchwarden's own: the command line, the
planner, the engine, the ontap driver over HTTPS with a verified certificate, the host
check over the host's transport (an argument vector) and the parser.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.testing.ontap_replay import OntapReplay, self_signed

PASSWORD = "s3cret-for-the-replay"
PACKAGE = "https://repo.example.test/ontap/{version}_q_image.tgz"

INVENTORY = """\
assets:
  - id: db-01
    kind: vm
    env: dev
    os: {{family: debian, release: "12"}}
    connection: {{transport: local}}
  - id: san-01
    kind: storage_system
    env: dev
    service_model: on_prem
    vendor: NetApp
    hosts: [db-01]
    parts:
      - {{id: san-01-a, type: controller, firmware: 9.13.1P4, redundancy_group: ha1}}
      - {{id: san-01-b, type: controller, firmware: 9.13.1P4, redundancy_group: ha1}}
    driver: ontap
    driver_config:
      address: {address}
      username: patchwarden
      password_env: PW_TEST_ONTAP_PASSWORD
      ca_file: {ca}
      nodes: {{san-01-a: cluster1-01, san-01-b: cluster1-02}}
      package_url: {package}
      poll_s: 0.05
      failover_timeout_s: 30
"""

CAMPAIGN = """\
name: storage firmware
groups:
  storage: {select: {kind: storage_system}, strategy: redundant_path}
firmware:
  - select: {kind: storage_system}
    parts: {controller: 9.14.1P2}
"""


@pytest.fixture
def lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path, OntapReplay]]:
    """Inventory and campaign files; the replay array and db-01's stand-in multipath."""
    cert, key = self_signed(tmp_path)
    paths = tmp_path / "multipath.out"
    calls = tmp_path / "multipath.calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "multipath"
    # The stand-in for dm-multipath's command (which cannot run here): record, then print.
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\ncat {paths}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PW_TEST_ONTAP_PASSWORD", PASSWORD)
    replay = OntapReplay(
        cert,
        key,
        username="patchwarden",
        password=PASSWORD,
        packages={PACKAGE.replace("{version}", "9.14.1P2"): "9.14.1P2"},
        multipath_file=paths,
    )
    with replay:
        paths.write_text(replay.multipath_output())
        inventory = tmp_path / "inventory.yaml"
        inventory.write_text(INVENTORY.format(address=replay.url, ca=cert, package=PACKAGE))
        campaign = tmp_path / "campaign.yaml"
        campaign.write_text(CAMPAIGN)
        yield inventory, campaign, replay


@pytest.mark.slow  # a whole campaign through the command line: about 20 s on a loaded machine
def test_each_node_is_taken_over_updated_given_back_and_the_host_checked(
    lab: tuple[Path, Path, OntapReplay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, campaign, replay = lab
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    code = main(["apply", str(campaign), "-i", str(inventory), "--real", "--db", db])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert {n.release for n in replay.nodes.values()} == {"9.14.1P2"}
    assert {n.state for n in replay.nodes.values()} == {"up"}
    actions = [
        (
            method,
            target.split("?")[0].rsplit("/", 1)[-1] if "giveback" not in target else "giveback",
        )
        for method, target in replay.requests
        if method != "GET"
    ]
    # One node at a time: takeover, update, giveback; then the other.
    assert actions == [
        ("POST", "takeover"),
        ("POST", "update"),
        ("PATCH", "giveback"),
        ("POST", "takeover"),
        ("POST", "update"),
        ("PATCH", "giveback"),
    ]
    calls = (tmp_path / "multipath.calls").read_text().splitlines()
    assert calls and set(calls) == {"-ll"}, "the host's paths were read, as an argument vector"
    # Read before the run (the pre-flight) and after each node came back.
    assert len(calls) >= 3


def test_a_host_already_on_one_path_refuses_the_run_before_anything_moves(
    lab: tuple[Path, Path, OntapReplay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, campaign, replay = lab
    # Both paths through cluster1-02 and one through cluster1-01 are down on the host.
    replay.failed_host_paths = frozenset({"sdc", "sdd", "sde"})
    (tmp_path / "multipath.out").write_text(replay.multipath_output())
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    code = main(["apply", str(campaign), "-i", str(inventory), "--real", "--db", db])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (
        f"{inventory}:2: db-01.connection: db-01 already reaches mpatha "
        "(3600a098038303634722b4d59646c4436): 1 usable path: taking a part of san-01 out "
        "would cut it off (hint: restore the host's failed paths"
    ) in err
    assert not [r for r in replay.requests if r[0] != "GET"], "nothing was taken over"


def test_without_a_real_driver_the_storage_steps_are_refused_naming_the_system(
    lab: tuple[Path, Path, OntapReplay], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory, campaign, replay = lab
    text = inventory.read_text()
    head, _, _ = text.partition("    driver: ontap\n")
    inventory.write_text(head)
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    code = main(["apply", str(campaign), "-i", str(inventory), "--real", "--db", db])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (
        f"{inventory}:7: san-01.driver: step path_offline of san-01-a needs a real driver for "
        "storage system 'san-01' (hint: add `driver: ontap` and its `driver_config`)"
    ) in err
