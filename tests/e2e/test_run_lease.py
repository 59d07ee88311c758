"""One runner per run: a lease in the store; resume of an ended run is not an error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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
def test_second_process_is_refused_and_resume_after_the_end_exits_0(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pw.db'}"
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
