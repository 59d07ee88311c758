"""The scheduler and notifications inside a real ``patchwarden serve``.

Against real receivers on loopback: an HTTP server that records webhooks (their HMAC
signature checked) and an ``aiosmtpd`` SMTP server that insists on STARTTLS (a certificate
made here, trusted through the channel's ``ca_file``). Jobs: the audit head exported every
second, an approved change started when its window is open (it has none: at once), and a
feed sync that cannot reach its source, retried with backoff until reported. The server is
then restarted: nothing runs twice and no notice is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from serve_harness import (
    Server,
    free_port,
    patchwarden,
    quick_campaign,
    seed_users,
    start_server,
    stop_server,
)

from patchwarden.service.audit import read_head, verify_trail
from patchwarden.service.change import approve_change
from patchwarden.service.submission import submit_campaign
from patchwarden.store import open_store

pytestmark = pytest.mark.slow  # a server assesses the demo estate, runs a change, restarts

SECRET = "hook-secret-for-tests"


class Hooks:
    """A webhook receiver on loopback: every POST's headers and body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        out = []
        for headers, body in self.received:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert headers["x-patchwarden-signature"] == expected  # signed, and unchanged
            event = json.loads(body)
            assert headers["x-patchwarden-event"] == event["event"]
            out.append(event)
        return out


class Mailbox:
    """aiosmtpd's handler: every message, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[tuple[bool, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd name
        self.messages.append((session.ssl is not None, envelope.content.decode()))
        return "250 OK"


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test's own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    import ssl

    cert_file, key_file = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield box, port, cert_file
    finally:
        controller.stop()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_jobs_and_notices_survive_a_restart_and_nothing_runs_twice(
    tmp_path: Path, mailbox: tuple[Mailbox, int, Path]
) -> None:
    box, smtp_port, ca_file = mailbox
    hooks = Hooks()
    db = f"sqlite:///{tmp_path / 'patchwarden.db'}"
    tokens = seed_users(db)
    patchwarden("assess", "--demo", "--format", "json", db=db)
    now = datetime.now(UTC).replace(microsecond=0)
    with open_store(db) as store:
        change = submit_campaign(
            store, "c.yaml", quick_campaign("scheduled"), "carol", now, source="test"
        )
        approve_change(store, change.id, "bob", now, source="test")
    head_file = tmp_path / "head.json"
    (tmp_path / "jobs.yaml").write_text(
        f"""retry_base: 1s
jobs:
  head: {{kind: audit_head, every: 1s, path: '{head_file}'}}
  start: {{kind: change_start, change: {change.id}, mode: sim, check_every: 1s}}
  broken:
    kind: feed_sync
    every: 1h
    sources: {{osv: 'http://127.0.0.1:{free_port()}/nothing-listens-here.zip'}}
    state_file: '{tmp_path / "feeds-state.json"}'
"""
    )
    (tmp_path / "notify.yaml").write_text(
        f"""channels:
  hook: {{type: webhook, url: '{hooks.url}', secret_env: PW_TEST_HOOK_SECRET, retries: 1}}
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    starttls: true
    ca_file: '{ca_file}'
    sender: patchwarden@example.org
    to: [ops@example.org]
    events: [change.submitted]
    environments: [prod]
"""
    )
    options = ("--schedule", str(tmp_path / "jobs.yaml"), "--notify", str(tmp_path / "notify.yaml"))
    options += ("--tick", "0.5")
    log = tmp_path / "server.log"
    env = {"PW_TEST_HOOK_SECRET": SECRET}
    process, url = start_server(db, log, *options, env_extra=env)
    server = Server(url, db, tokens, log)
    try:
        # The approved change starts by itself, and its end is told.
        finished = wait_for(
            "the scheduled run's notice",
            lambda: [e for e in hooks.events() if e["event"] in ("run.finished", "run.failed")],
        )
        assert finished[0]["event"] == "run.finished", finished
        run_id = finished[0]["object"]["id"]
        # A submitted change is told to the webhook and, in prod, by e-mail over STARTTLS.
        with server.client("carol") as carol:
            r = carol.post("/api/v1/changes", json={"campaign": quick_campaign("x")})
            assert r.status_code == 201
        submitted = wait_for(
            "the submission's notice",
            lambda: [e for e in hooks.events() if e["event"] == "change.submitted"],
        )
        assert submitted[0]["object"]["id"] == str(r.json()["id"])
        tls, mail = wait_for("the e-mail", lambda: box.messages)[0]
        assert (
            tls and "needs an approver" in mail and "X-Patchwarden-Event: change.submitted" in mail
        )
        # The broken job is retried with backoff and reported after its third failure.
        failing = wait_for(
            "the failing job's notice",
            lambda: [e for e in hooks.events() if e["event"] == "job.failing"],
        )
        assert failing[0]["object"]["id"] == "broken"
        with server.client("root") as root:
            jobs = {j["name"]: j for j in root.get("/api/v1/jobs").json()}
        assert jobs["broken"]["last_status"] == "failed" and jobs["broken"]["failures"] >= 3
        assert jobs["head"]["last_status"] == "ok"
        # The exported head verifies the trail.
        with open_store(db) as store:
            verify_trail(store, read_head(head_file))
            starts = [r for r in store.runs() if r.plan_hash == change.plan_hash]
            trail = store.audit.entries()
        assert len(starts) == 1 and starts[0].id == run_id
        assert any(
            e.action == "run.start" and e.actor == "scheduler" and e.object_id == run_id
            for e in trail
        )
    finally:
        stop_server(process)
    told = len(hooks.received)
    started_before = jobs["start"]["next_at"]
    process, url = start_server(db, log, *options, env_extra=env)
    try:
        head_before = read_head(head_file).seq
        with Server(url, db, tokens, log).client("otto") as otto:
            r = otto.post("/api/v1/changes", json={"campaign": quick_campaign("y")})
            assert r.status_code == 201
        wait_for(
            "the new submission's notice",
            lambda: len([e for e in hooks.events() if e["event"] == "change.submitted"]) == 2,
        )
        with Server(url, db, tokens, log).client("root") as root:
            jobs = {j["name"]: j for j in root.get("/api/v1/jobs").json()}
        wait_for("the head job to run again", lambda: read_head(head_file).seq > head_before)
    finally:
        stop_server(process)
    assert jobs["start"]["next_at"] == started_before  # done: not started again
    with open_store(db) as store:
        assert len([r for r in store.runs() if r.plan_hash == change.plan_hash]) == 1
    events = [e["event"] for e in hooks.events()]
    assert len(hooks.received) == told + 1 and events.count("run.finished") == 1
