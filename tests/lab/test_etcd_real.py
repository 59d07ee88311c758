"""A real etcd cluster rolled through the command line, one member at a time, leader last.

Three etcd 3.4 members (Debian's ``etcd-server``) on lab roots 127.0.7.2-4
(``patchwarden.testing.lab_etcd``, needs root). ``patchwarden apply campaign.yaml --real``
runs as a process of its own: before each member the cluster's own API must show quorum
holding without it (leadership moved away first when it leads), the member's root is
patched over SSH and rebooted (its etcd stops and starts again with it), and the member
must be healthy and caught up with the leader before the next one goes. A client writes
and reads a key through the cluster throughout. A campaign that would lose quorum (one
member already down) is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchwarden.store import open_store
from patchwarden.testing.lab_etcd import EtcdLab, KeyLoad, shared_etcd_lab
from patchwarden.testing.lab_evacuation import cli
from patchwarden.testing.lab_repo import INITIAL


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdLab]:
    with shared_etcd_lab() as running:
        yield running


def _leader_moves(events: list[Any]) -> list[tuple[str, str]]:
    moves = []
    for event in events:
        detail = event.payload or {}
        if event.event == "succeeded" and "leadership_to" in detail:
            moves.append((detail["leadership_from"], detail["leadership_to"]))
    return moves


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_apply_real_rolls_the_cluster_one_member_at_a_time_leader_last(
    etcd: EtcdLab, tmp_path: Path
) -> None:
    env, inventory, campaign = etcd.prepare(tmp_path)
    leader = etcd.leader()
    restarts = len(etcd.restarts)
    load = KeyLoad([etcd.endpoint(m) for m in etcd.members])
    load.start()
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=240)
    finally:
        report = load.stop()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed"
        events = list(store.events(run.id))
    started = [e.step_id for e in events if e.event == "started"]
    leaves = [s for s in started if s.endswith("-leave")]
    assert [s.split("/")[1] for s in leaves][-1] == leader, "the leader goes last"
    assert len(leaves) == 3 and sum(s.endswith("-rejoin") for s in started) == 3
    assert _leader_moves(events) == [(leader, leaves[0].split("/")[1])], "one leader move"
    for member in etcd.members:
        assert etcd.installed(member, ["pw-web", "pw-kernel"]) == {
            "pw-web": "1.0-2", "pw-kernel": "1.0-2"}  # fmt: skip
    assert len(etcd.restarts) - restarts == 3, "each member's etcd restarted with its root"
    etcd.wait_healthy()
    rejoined = [e.payload.get("waited_s") for e in events if e.step_id.endswith("-rejoin")
                and e.event == "succeeded"]  # fmt: skip
    print(f"etcd rolling: {report}, leader moves {_leader_moves(events)}, rejoin waits {rejoined}")
    assert report.sent > 200
    assert report.failed == 0, report.errors


@pytest.mark.timeout(120)
def test_a_rolling_that_would_lose_quorum_is_refused_before_anything_runs(
    etcd: EtcdLab, tmp_path: Path
) -> None:
    env, inventory, campaign = etcd.prepare(tmp_path)
    leader = etcd.leader()
    down = next(m for m in etcd.members if m != leader)
    etcd.hold_down(down)
    try:
        applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real")
        assert applied.returncode == 2, applied.stdout + applied.stderr
        assert "rolling would lose quorum" in applied.stderr, applied.stderr
        assert f"{down} unhealthy" in applied.stderr
        assert "bring the unhealthy members back" in applied.stderr
        assert etcd.leader() == leader, "leadership did not move"
        for member in etcd.members:
            assert etcd.installed(member, ["pw-web"]) == {"pw-web": INITIAL["pw-web"]}
    finally:
        etcd.release(down)
    etcd.wait_healthy()
