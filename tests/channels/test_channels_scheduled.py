"""The server's scheduled ``channels_check`` job: durable, once per new version.

A real release feed over real tarballs on a loopback HTTP server, a real SMTP server
(``aiosmtpd``) for the ``notify`` application's e-mail, and the scheduler over a real
SQLite store, ticked with a clock the test moves: the job acts on a new version once, a
restarted scheduler does not act again, and a notice that cannot be delivered fails the
job (audited, retried with backoff) until it is delivered, once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from patchwarden.errors import ValidationFailed
from patchwarden.service.scheduler import Scheduler, load_schedule
from patchwarden.store import Store, open_store
from patchwarden.store.audit import AuditFilter
from patchwarden.testing.channels import ChannelServer, build_release, write_release_feed

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        text = envelope.content.decode("utf-8", errors="replace")
        subject = next((line for line in text.splitlines() if line.startswith("Subject:")), "")
        with self.lock:
            self.subjects.append(subject)
        return "250 OK"


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[ChannelServer]:
    root = tmp_path / "www"
    with ChannelServer(root) as server:
        tarballs = {v: build_release(root / "releases", "gateway", v, {"VERSION": v})
                    for v in ("3.9.0", "3.10.0")}  # fmt: skip
        write_release_feed(root / "feeds/gateway.json", tarballs, server.url + "/releases/",
                           notes_url="https://vendor.example/notes/")  # fmt: skip
        yield server


def _inventory(tmp: Path, url: str) -> Path:
    path = tmp / "inventory.yaml"
    path.write_text(f"""\
assets:
  - {{id: gw-host, kind: vm, env: prod, connection: {{transport: sim}}}}
  - id: gateway
    kind: application
    env: prod
    version: "3.9.0"
    update_channel: notify
    channel: {{type: release_feed, url: "{url}/feeds/gateway.json"}}
    notify: {{email: [ops@example.com]}}
    runs_on: [gw-host]
""")
    return path


def _scheduler(store: Store, tmp: Path, inventory: Path, port: int, clock: _Clock) -> Scheduler:
    config = load_schedule(
        "jobs.yaml",
        f"""\
retry_base: 1s
jobs:
  app-updates:
    kind: channels_check
    every: 6h
    campaigns_dir: '{tmp / "campaigns"}'
    smtp: '127.0.0.1:{port}'
    mail_from: patchwarden@example.com
""",
    )
    scheduler = Scheduler(store, config, "test-server", lambda setup, actor: None, clock,
                          inventory=(str(inventory),))  # fmt: skip
    scheduler.register()
    return scheduler


def _notified(store: Store) -> list[str]:
    entries = store.audit.entries(AuditFilter(action="channel.new_version", object_id="gateway"))
    return [e.details["action"] for e in entries]


@pytest.mark.slow  # two SMTP attempts and three checks over HTTP: ~10 s on a loaded machine
@pytest.mark.timeout(120)
def test_scheduled_check_notifies_once_and_survives_a_restart(
    feed: ChannelServer, tmp_path: Path
) -> None:
    inbox = _Inbox()
    port = _free_port()
    inventory = _inventory(tmp_path, feed.url)
    clock = _Clock()
    db = f"sqlite:///{tmp_path / 'pw.db'}"
    with open_store(db) as store:
        scheduler = _scheduler(store, tmp_path, inventory, port, clock)
        # No SMTP server yet: the notice cannot go, the job fails and is audited.
        assert scheduler.tick() == ["app-updates"]
        (job,) = store.jobs()
        assert (job.last_status, job.failures) == ("failed", 1)
        assert "gateway: notify_failed" in job.last_error
        assert _notified(store) == ["notify_failed"]
        assert [e.object_id for e in store.audit.entries(AuditFilter(action="job.fail"))] == [
            "app-updates"
        ]
        assert scheduler.tick() == []  # waiting out its backoff

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        clock.now = T0 + timedelta(seconds=2)
        with open_store(db) as store:
            scheduler = _scheduler(store, tmp_path, inventory, port, clock)
            assert scheduler.tick() == ["app-updates"]  # retried: delivered now
            assert inbox.subjects == [
                "Subject: [patchwarden] gateway 3.10.0 is available (runs 3.9.0)"
            ]
            (job,) = store.jobs()
            assert (job.last_status, job.failures) == ("ok", 0)
            assert job.next_at == clock.now + timedelta(hours=6)
        # A restart (a new scheduler over the same store) does not run it before it is due,
        # and when due it finds the version already acted on: no second e-mail.
        with open_store(db) as store:
            scheduler = _scheduler(store, tmp_path, inventory, port, clock)
            assert scheduler.tick() == []
            clock.now += timedelta(hours=6)
            assert scheduler.tick() == ["app-updates"]
            assert _notified(store) == ["notify_failed", "notified"]
            (job,) = store.jobs()
            assert job.last_status == "ok"
        assert len(inbox.subjects) == 1
    finally:
        controller.stop()


def test_a_channels_check_job_without_inventory_fails_and_says_why(tmp_path: Path) -> None:
    clock = _Clock()
    with open_store(f"sqlite:///{tmp_path / 'pw.db'}") as store:
        config = load_schedule(
            "jobs.yaml",
            f"jobs:\n  c: {{kind: channels_check, every: 1h, campaigns_dir: '{tmp_path}'}}\n",
        )
        scheduler = Scheduler(store, config, "s", lambda setup, actor: None, clock)
        scheduler.register()
        assert scheduler.tick() == ["c"]
        (job,) = store.jobs()
        assert "start it with --inventory" in job.last_error


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("jobs:\n  c: {kind: channels_check, every: 1h}\n", "needs `campaigns_dir:`"),
        (
            "jobs:\n  c: {kind: channels_check, every: 1h, campaigns_dir: x, smtp: nohost}\n",
            "write HOST:PORT",
        ),
    ],
)
def test_bad_channels_check_jobs_are_refused_with_file_and_line(text: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_schedule("jobs.yaml", text)
    message = str(caught.value)
    assert "jobs.yaml" in message and says in message
