"""Scheduled scans: a group of hosts scanned and the estate assessed, once per occurrence.

The in-process tests scan this machine itself (an asset whose connection is ``local``:
real ``dpkg-query``, no mock) beside a host that never answers. The slow test runs a
real ``patchwarden serve`` whose scan job is in the middle of that unanswering host when
the server is killed (SIGKILL); the restarted server takes the occurrence up once the
lease has run out and records its scan and its assessment exactly once. The lab test
(tests/lab) runs the same job over SSH against the lab's hosts.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serve_harness import Server, seed_users, start_server, stop_server
from test_scheduler_notify import wait_for

from patchwarden.errors import PatchwardenError, ValidationFailed
from patchwarden.service.scheduled_scan import ScanGroup, occurrence_name, run_scan_job
from patchwarden.service.scheduler import SCHEDULER, Scheduler, load_schedule
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

INVENTORY = """\
assets:
  - {{id: self-01, kind: vm, env: qa, roles: [web], connection: {{transport: local}}}}
  - {{id: mute-01, kind: vm, env: qa, roles: [web],
      connection: {{transport: ssh, address: 127.0.0.1, port: {port}}}}}
  - {{id: prod-01, kind: vm, env: prod, roles: [web], connection: {{transport: local}}}}
"""


@pytest.fixture
def mute_port() -> Iterator[tuple[int, socket.socket]]:
    """A TCP port that accepts connections and never says a word (an SSH host that hangs)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1], listener
    finally:
        listener.close()


def _write_inventory(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(INVENTORY.format(port=port))
    return path


def test_a_scan_job_is_validated_with_file_line_and_field() -> None:
    good = load_schedule(
        "s.yaml",
        "jobs:\n  s: {kind: scan, every: 1h, environment: prod, group: web, timeout: 30s}\n",
    )
    group = good.jobs["s"].scan_group()
    assert (group.environment, group.group, group.timeout_s, group.assess) == (
        "prod", "web", 30.0, True,
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as bad:
        load_schedule(
            "s.yaml",
            "jobs:\n  s:\n    kind: scan\n    every: 1h\n    select: ['colour=blue']\n",
        )
    (problem,) = bad.value.problems
    assert (problem.file, problem.line, problem.field) == ("s.yaml", 5, "jobs.s.select")
    assert "colour=blue" in problem.message
    with pytest.raises(ValidationFailed) as misplaced:
        load_schedule("s.yaml", "jobs:\n  h: {kind: audit_head, every: 1h, path: h, group: web}\n")
    assert "for scan jobs" in misplaced.value.problems[0].message
    with pytest.raises(ValidationFailed) as no_time:
        load_schedule("s.yaml", "jobs:\n  s: {kind: scan, group: web}\n")
    assert no_time.value.problems[0].line == 2


def _entries(db: str, action: str, occurrence: str) -> list[dict[str, object]]:
    with open_store(db) as store:
        found = store.audit.entries(AuditFilter(action=action))
    return [dict(e.details) for e in found if e.details.get("job") == occurrence]


@pytest.mark.slow  # scans this machine's packages for real (seconds on a loaded machine)
def test_an_occurrence_scans_its_group_assesses_and_is_not_done_twice(
    tmp_path: Path, mute_port: tuple[int, socket.socket]
) -> None:
    port, listener = mute_port
    listener.close()  # a host that refuses at once
    inventory = _write_inventory(tmp_path, port)
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    due = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    group = ScanGroup(group="web", environment="qa", timeout_s=60.0)
    with open_store(db) as store:
        first = run_scan_job(
            store, "scan-qa", group, due, inventory_files=[inventory], actor=SCHEDULER,
            now=datetime.now(UTC),
        )  # fmt: skip
        assert first.scanned == ("self-01",) and first.failed == ("mute-01",)
        assert first.scans_recorded and first.assessment is not None
        scans = {s.asset_id: s for s in store.latest_scans(ok_only=False)}
        assert set(scans) == {"self-01", "mute-01"}, "prod-01 is not of the group"
        assert scans["self-01"].ok and not scans["mute-01"].ok
        # Taken up again (a server died before marking it done): nothing is redone.
        again = run_scan_job(
            store, "scan-qa", group, due, inventory_files=[inventory], actor=SCHEDULER,
            now=datetime.now(UTC),
        )  # fmt: skip
        assert (again.scans_recorded, again.assessment) == (False, None)
        assert len(store.latest_scans(ok_only=False)) == 2
        # A group nothing can be scanned in is the job's failure, named.
        with pytest.raises(PatchwardenError, match="no asset of its group"):
            run_scan_job(
                store, "scan-none", ScanGroup(environment="staging"), due,
                inventory_files=[inventory], actor=SCHEDULER, now=datetime.now(UTC),
            )  # fmt: skip
    occurrence = occurrence_name("scan-qa", due)
    (scan_entry,) = _entries(db, "scan.record", occurrence)
    assert scan_entry["failed"] == ["mute-01"] and scan_entry["scans"] == 2
    assert len(_entries(db, "assessment.record", occurrence)) == 1


@pytest.mark.slow  # scans this machine's packages for real
def test_the_scheduler_runs_a_due_scan_job_then_waits_for_the_next(
    tmp_path: Path, mute_port: tuple[int, socket.socket]
) -> None:
    port, _ = mute_port
    inventory = _write_inventory(tmp_path, port)
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    config = load_schedule(
        "s.yaml", "jobs:\n  nightly: {kind: scan, every: 1h, environment: prod}\n"
    )
    now = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    with open_store(db) as store:
        scheduler = Scheduler(
            store, config, "test", lambda *_: None, lambda: now, inventory=(str(inventory),)
        )
        scheduler.register()
        assert scheduler.tick() == ["nightly"]
        assert scheduler.tick() == [], "not due again for an hour"
        (job,) = store.jobs()
        assert job.last_status == "ok" and job.next_at == now + timedelta(hours=1)
        assert {s.asset_id for s in store.latest_scans()} == {"prod-01"}
        assert store.latest_assessment_id() is not None


@pytest.mark.slow  # two real servers, one killed in the middle of a job
def test_a_server_killed_mid_scan_leaves_the_occurrence_to_be_done_once(
    tmp_path: Path, mute_port: tuple[int, socket.socket]
) -> None:
    port, listener = mute_port
    inventory = _write_inventory(tmp_path, port)
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    tokens = seed_users(db)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "jobs:\n  scan-qa:\n    kind: scan\n    every: 1h\n    group: web\n"
        "    environment: qa\n    timeout: 60s\n    lease: 3s\n"
    )
    options = ("--schedule", str(jobs), "--tick", "0.3", "--inventory", str(inventory))
    log = tmp_path / "server.log"

    def job() -> object:
        with open_store(db) as store:
            return next(iter(store.jobs()), None)

    process, _ = start_server(db, log, *options)
    try:
        running = wait_for("the job to be running", lambda: job() and job().running_by)  # type: ignore[union-attr]  # None until registered
        time.sleep(1.0)  # well inside the unanswering host's 60 s
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            stop_server(process)
    with open_store(db) as store:
        (held,) = store.jobs()
        assert held.running_by == running and held.last_status == "", "killed mid-job"
        assert store.latest_scans(ok_only=False) == [], "nothing recorded by the dead server"
    listener.close()  # the host now refuses at once, so the retry is quick
    process, url = start_server(db, log, *options)
    try:
        done = wait_for(
            "the occurrence to be done",
            lambda: (j := job()) is not None and j.last_status == "ok" and j,  # type: ignore[attr-defined]  # a JobRecord once stored
            timeout=90,
        )
        with Server(url, db, tokens, log).client("root") as root:
            listed = {j["name"]: j for j in root.get("/api/v1/jobs").json()}
        assert listed["scan-qa"]["last_status"] == "ok"
        time.sleep(1.0)  # several more ticks: the job is not due again for an hour
    finally:
        stop_server(process)
    assert done.running_by is None and done.failures == 0
    with open_store(db) as store:
        trail = store.audit.entries(AuditFilter(actor="scheduler"))
    actions = [e.action for e in trail]
    assert actions.count("scan.record") == 1 and actions.count("assessment.record") == 1
    (scan,) = [e for e in trail if e.action == "scan.record"]
    assert scan.details["failed"] == ["mute-01"] and scan.details["scans"] == 2
    assert json.dumps(scan.details["job"]).startswith('"scan-qa@')
