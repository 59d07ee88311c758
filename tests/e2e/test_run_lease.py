"""One runner per run: a lease in the store; resume of an ended run is not an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.errors import RunBusy
from patchwarden.service.lease import take_run
from patchwarden.store import Store, open_store

CAMPAIGN = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-campaign.yaml"
T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _run(store: Store) -> str:
    store.save_plan("a" * 64, "c", {})
    return store.create_run("a" * 64, state="running", started_at=T).id


def test_a_valid_lease_refuses_a_second_holder_until_it_expires(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        run_id = _run(store)
        first = store.take_lease(run_id, "a@elsewhere:1:x", T, T + timedelta(seconds=30))
        assert first.holder == "a@elsewhere:1:x"
        second = store.take_lease(run_id, "b@elsewhere:2:y", T, T + timedelta(seconds=30))
        assert second.holder == "a@elsewhere:1:x"  # refused: the first holds it
        assert store.renew_lease(run_id, "a@elsewhere:1:x", T + timedelta(seconds=60))
        later = T + timedelta(seconds=45)
        assert store.take_lease(run_id, "b@elsewhere:2:y", later, later).holder != "b@elsewhere:2:y"
        expired = T + timedelta(seconds=61)
        taken = store.take_lease(
            run_id, "b@elsewhere:2:y", expired, expired + timedelta(seconds=30)
        )
        assert taken.holder == "b@elsewhere:2:y"
        assert not store.renew_lease(run_id, "a@elsewhere:1:x", expired)  # the first lost it
        assert not store.release_lease(run_id, "a@elsewhere:1:x")
        assert store.release_lease(run_id, "b@elsewhere:2:y") and store.lease(run_id) is None


def test_take_run_says_who_holds_it_and_takes_over_from_a_dead_process(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        run_id = _run(store)
        held = take_run(store, run_id, "alice")
        try:
            with pytest.raises(RunBusy, match="alice@") as busy:
                take_run(store, run_id, "bob")
            assert busy.value.exit_code == 3
        finally:
            held.release()
        # A holder on this machine whose process is gone: no need to wait for the expiry.
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        gone = f"carol@{os.uname().nodename}:{dead.stdout.strip()}:x"
        now = datetime.now(UTC)
        store.take_lease(run_id, gone, now, now + timedelta(hours=1))
        lease = take_run(store, run_id, "bob")
        assert lease.holder.startswith("bob@")
        lease.release()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_second_process_is_refused_and_resume_after_the_end_exits_0(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path / 'pw.db'}"
    else:
        db = request.getfixturevalue("postgres_url")
    env = {**os.environ, "PATCHWARDEN_DB": db, "COLUMNS": "160"}
    apply = subprocess.Popen(
        [sys.executable, "-m", "patchwarden", "apply", str(CAMPAIGN), "--speed", "150"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_id = ""
    deadline = time.monotonic() + 60
    while not run_id and time.monotonic() < deadline:
        time.sleep(0.2)
        with open_store(db) as store:
            run = store.latest_run()
            run_id = run.id if run is not None and store.lease(run.id) is not None else ""
    assert run_id, "the run never started"
    second = _cli(env, "resume", run_id)
    assert second.returncode == 3, second.stdout + second.stderr
    assert f"run {run_id} is being driven by" in second.stderr
    # The first runner carries on undisturbed to the end.
    _cli(env, "pause", run_id)
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, err
    finished = _cli(env, "resume", run_id, "--speed", "20000")
    assert finished.returncode == 0, finished.stderr
    status = json.loads(_cli(env, "status", run_id, "--format", "json").stdout)
    assert status["state"] == "completed"
    # A supervisor resuming after a crash that came after the last step: success, said so.
    again = _cli(env, "resume", run_id)
    assert again.returncode == 0, again.stderr
    assert "has already ended (completed); nothing to resume" in again.stdout
    with open_store(db) as store:
        assert store.lease(run_id) is None  # every runner gave the run up


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_long_run_keeps_its_lease_and_refuses_others_while_it_renews(tmp_path: Path) -> None:
    """The holder's thread renews: a lease outlives its first expiry, and others are refused."""
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        run_id = _run(store)
        held = take_run(store, run_id, "alice", ttl_s=0.6)
        try:
            first = store.lease(run_id)
            assert first is not None
            first_expiry = first.expires_at
            # Two renewals, not one lucky write: the expiry moves past where it started twice.
            seen: list[datetime] = []

            def renewed_twice() -> bool:
                lease = store.lease(run_id)
                assert lease is not None and lease.holder == held.holder
                if lease.expires_at > (seen[-1] if seen else first_expiry):
                    seen.append(lease.expires_at)
                return len(seen) >= 2

            assert _wait_for(renewed_twice), "the lease was never renewed"
            # Another runner, at a moment after the first expiry, is still refused.
            after_first = first_expiry + timedelta(seconds=0.1)
            with pytest.raises(RunBusy, match="alice@") as busy:
                take_run(store, run_id, "bob", ttl_s=0.6, clock=lambda: after_first)
            assert busy.value.exit_code == 3
            assert not held.lost()
        finally:
            held.release()
        assert store.lease(run_id) is None


def test_an_expired_lease_is_taken_and_its_old_holder_learns_it_lost(tmp_path: Path) -> None:
    """A holder that stalled past its expiry loses the run to the next one, and knows it."""
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        run_id = _run(store)
        held = take_run(store, run_id, "alice", ttl_s=0.9)
        try:
            # Bob's clock is an hour on: however often alice renewed, her lease has expired.
            later = datetime.now(UTC) + timedelta(hours=1)
            bob = take_run(store, run_id, "bob", ttl_s=60.0, clock=lambda: later)
            try:
                lease = store.lease(run_id)
                assert lease is not None and lease.holder == bob.holder
                # Alice's next renewal finds the run gone: she starts no new step.
                assert _wait_for(held.lost), "the old holder never noticed"
                held.release()  # gives up nothing it no longer holds
                lease = store.lease(run_id)
                assert lease is not None and lease.holder == bob.holder
                assert not bob.lost()
            finally:
                bob.release()
        finally:
            held.release()
        assert store.lease(run_id) is None
