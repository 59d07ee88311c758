"""``patchwarden channels check`` against real channels on loopback, each policy carried out.

The channels are real: a Python index (PEP 503 and PEP 691) over wheels built here, an apt
repository whose ``Packages`` index ``dpkg-scanpackages`` writes over ``.deb`` files that
``dpkg-deb`` builds, and a release feed over real tarballs; all served by a real HTTP
server on 127.0.0.1. ``notify`` e-mail goes to a real SMTP server (``aiosmtpd``) on
loopback; the webhook to that HTTP server. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from patchwarden.cli.main import main
from patchwarden.domain.campaign import Campaign
from patchwarden.service.apply import plan_from_files
from patchwarden.service.channels import ChannelReader, check_channels
from patchwarden.service.sources import read_inventory
from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter
from patchwarden.testing.channels import (
    ChannelServer,
    build_release,
    build_wheel,
    write_release_feed,
    write_simple_index,
)

AT = "2026-12-01T10:00Z"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd name
        with self.lock:
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
            )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, _Inbox]]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def _deb(folder: Path, name: str, version: str) -> None:
    root = folder / f"build-{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: tests <t@example.com>\nDescription: a channel test package\n"
    )
    (root / "usr/share" / name).mkdir(parents=True)
    (root / "usr/share" / name / "version").write_text(version + "\n")
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(root), str(folder / f"{name}_{version}.deb")],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(root)


@pytest.fixture
def channels(tmp_path: Path) -> Iterator[ChannelServer]:
    """A server holding a Python index, an apt repository and a release feed."""
    root = tmp_path / "www"
    with ChannelServer(root) as server:
        for version in ("1.0", "1.1", "1.2rc1", "1.10"):
            build_wheel(root / "files", "shop", version, {"shop/__init__.py": f"V = '{version}'\n"})
        write_simple_index(root / "simple", root / "files", server.url + "/files/")
        repo = root / "debian"
        pool = repo / "pool"
        pool.mkdir(parents=True)
        for version in ("2.0-1", "2.0-1+deb12u1", "2.0~rc1-1"):
            _deb(pool, "ledger", version)
        scanned = subprocess.run(
            ["dpkg-scanpackages", "--multiversion", "pool"],
            cwd=repo, check=True, capture_output=True, text=True,
        )  # fmt: skip
        binary = repo / "dists/bookworm/main/binary-amd64"
        binary.mkdir(parents=True)
        (binary / "Packages").write_text(scanned.stdout)
        tarballs = {
            v: build_release(root / "releases", "gateway", v, {"VERSION": v})
            for v in ("3.9.0", "3.10.0")
        }
        write_release_feed(
            root / "feeds/gateway.json", tarballs, server.url + "/releases/",
            notes_url="https://vendor.example/notes/",
        )  # fmt: skip
        yield server


def _inventory(tmp: Path, url: str, smtp_to: str = "ops@example.com") -> Path:
    text = f"""\
environments: [dev, qa, staging, prod]
assets:
  - {{id: app-dev-01, kind: vm, env: dev, connection: {{transport: sim}}}}
  - {{id: app-dev-02, kind: vm, env: dev, connection: {{transport: sim}}}}
  - {{id: app-prod-01, kind: vm, env: prod, connection: {{transport: sim}}}}
  - id: shop
    kind: application
    env: dev
    version: "1.1"
    update_channel: auto
    channel: {{type: pypi, index: "{url}/simple/"}}
    runs_on: [app-dev-01, app-dev-02]
  - id: ledger
    kind: application
    env: prod
    version: "2.0-1"
    update_channel: notify
    channel: {{type: apt, repository: "{url}/debian", suite: bookworm}}
    notify: {{webhook: "{url}/hooks/ops", email: [{smtp_to}]}}
    runs_on: [app-prod-01]
  - id: gateway
    kind: application
    env: prod
    version: "3.9.0"
    update_channel: manual
    channel: {{type: release_feed, url: "{url}/feeds/gateway.json"}}
    runs_on: [app-prod-01]
  - id: shop-prod
    kind: application
    env: prod
    version: "1.10"
    update_channel: auto
    channel: {{type: pypi, index: "{url}/simple/", project: shop}}
    runs_on: [app-prod-01]
"""
    path = tmp / "inventory.yaml"
    path.write_text(text)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_each_channel_kind_is_read_in_its_own_version_order(
    channels: ChannelServer, tmp_path: Path
) -> None:
    inventory = read_inventory([_inventory(tmp_path, channels.url)]).inventory
    with ChannelReader() as reader:
        checks = {c.app: c for c in check_channels(inventory, reader)}
    # PEP 440: 1.10 > 1.2rc1 > 1.1 (a string sort would put 1.10 before 1.2rc1 wrongly).
    assert [r.version for r in checks["shop"].newer] == ["1.10", "1.2rc1"]
    assert checks["shop"].latest is not None and checks["shop"].latest.sha256
    # dpkg: 2.0~rc1-1 is older than 2.0-1, +deb12u1 newer.
    assert [r.version for r in checks["ledger"].newer] == ["2.0-1+deb12u1"]
    assert checks["ledger"].newer[0].url.endswith("/debian/pool/ledger_2.0-1+deb12u1.deb")
    # SemVer: 3.10.0 > 3.9.0.
    assert [r.version for r in checks["gateway"].newer] == ["3.10.0"]
    assert checks["gateway"].newer[0].notes == "https://vendor.example/notes/3.10.0"
    assert checks["shop-prod"].newer == ()


def test_pep503_html_is_read_when_the_index_has_no_json(
    channels: ChannelServer, tmp_path: Path
) -> None:
    (tmp_path / "www/simple/shop/index.json").unlink()
    inventory = read_inventory([_inventory(tmp_path, channels.url)]).inventory
    with ChannelReader() as reader:
        checks = {c.app: c for c in check_channels(inventory, reader)}
    assert [r.version for r in checks["shop"].newer] == ["1.10", "1.2rc1"]


def test_check_acts_on_every_policy_once(
    channels: ChannelServer,
    smtp: tuple[Controller, _Inbox],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    controller, inbox = smtp
    inventory = _inventory(tmp_path, channels.url)
    argv = [
        "channels", "check", "-i", str(inventory), "--at", AT, "--format", "json",
        "--smtp", f"127.0.0.1:{controller.port}", "--mail-from", "patchwarden@example.com",
    ]  # fmt: skip
    code, out, err = _run(capsys, *argv)
    assert code == 0, out + err
    rows = {r["app"]: r for r in json.loads(out)}
    assert rows["shop"]["action"] == "campaign" and rows["shop"]["latest"] == "1.10"
    assert rows["ledger"]["action"] == "notified"
    assert rows["gateway"]["action"] == "recorded"
    assert rows["shop-prod"]["action"] == "up_to_date"

    # notify: one e-mail at the real SMTP server, and one webhook POST, with the version.
    assert len(inbox.messages) == 1
    sender, rcpt, message = inbox.messages[0]
    assert (sender, rcpt) == ("patchwarden@example.com", ["ops@example.com"])
    assert "ledger 2.0-1+deb12u1 is available" in message["Subject"]
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"running:   2.0-1" in body
    [(path, posted)] = channels.posts
    assert path == "/hooks/ops"
    assert json.loads(posted)["version"] == "2.0-1+deb12u1"

    # auto: a campaign installing 1.10 on the application's two hosts, needing no change
    # in dev; it plans the normal way, one rolling unit per host, each installing it.
    campaign_file = tmp_path / "channel-campaigns" / "shop-1.10.yaml"
    built, _ = _plan(campaign_file, inventory)
    assert built.campaign.applications[0].version == "1.10"
    assert built.campaign.change.required_for == ()
    units = {u.target: u for u in built.plan.units()}
    assert set(units) == {"app-dev-01", "app-dev-02"}
    for unit in units.values():
        patch = next(s for s in unit.steps if s.params.action == "patch")
        assert patch.params.packages == (("app:shop", "1.10"),)
        assert [s.params.action for s in unit.rollback][0] == "restore"

    # every outcome is in the audit trail; a second check acts on nothing again.
    with open_store(os.environ["PATCHWARDEN_DB"]) as store:
        entries = store.audit.entries(AuditFilter(action="channel.new_version"))
    assert {(e.object_id, e.details["action"]) for e in entries} == {
        ("shop", "campaign"), ("ledger", "notified"), ("gateway", "recorded"),
    }  # fmt: skip
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    again = {r["app"]: r["action"] for r in json.loads(out)}
    assert again == {
        "shop": "already_recorded", "ledger": "already_recorded",
        "gateway": "already_recorded", "shop-prod": "up_to_date",
    }  # fmt: skip
    assert len(inbox.messages) == 1 and len(channels.posts) == 1


def _plan(campaign: Path, inventory: Path) -> tuple[Any, list[str]]:
    with open_store(os.environ["PATCHWARDEN_DB"]) as store:
        return plan_from_files(
            store, campaign, [inventory], [], datetime(2026, 12, 1, 10, tzinfo=UTC)
        )


def test_auto_in_prod_submits_a_change_for_a_person_to_approve(
    channels: ChannelServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    inventory = _inventory(tmp_path, channels.url)
    text = inventory.read_text().replace('version: "1.10"', 'version: "1.0"')
    inventory.write_text(text.replace("update_channel: notify", "update_channel: manual"))
    code, out, err = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT,
                          "--format", "json")  # fmt: skip
    assert code == 0, out + err
    rows = {r["app"]: r for r in json.loads(out)}
    assert rows["shop-prod"]["action"] == "change_submitted", rows["shop-prod"]
    assert rows["shop-prod"]["detail"].startswith("CHG-")
    with open_store(os.environ["PATCHWARDEN_DB"]) as store:
        [change] = store.changes(campaign="shop-prod 1.10")
    assert change.state.value == "submitted" and change.affected_assets == ("app-prod-01",)
    written = tmp_path / "channel-campaigns/shop-prod-1.10.yaml"
    campaign = Campaign.model_validate(yaml.safe_load(written.read_text()))
    assert campaign.change.required_for == ("prod",)


def test_notify_that_cannot_be_delivered_fails_the_check_and_is_tried_again(
    channels: ChannelServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    inventory = _inventory(tmp_path, channels.url)
    channels.answer_posts_with(503)
    argv = ["channels", "check", "-i", str(inventory), "--at", AT, "--format", "json",
            "--smtp", f"127.0.0.1:{_free_port()}"]  # fmt: skip
    code, out, _ = _run(capsys, *argv)
    assert code == 1
    ledger = next(r for r in json.loads(out) if r["app"] == "ledger")
    assert ledger["action"] == "notify_failed"
    assert "503" in ledger["detail"] and "cannot send mail" in ledger["detail"]
    code, out, _ = _run(capsys, *argv)
    assert next(r for r in json.loads(out) if r["app"] == "ledger")["action"] == "notify_failed"


def test_a_channel_that_cannot_be_read_is_an_error_for_that_application_only(
    channels: ChannelServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    inventory = _inventory(tmp_path, channels.url)
    (tmp_path / "www/feeds/gateway.json").write_text('{"releases": [{"version": "4"}]}')
    code, out, _ = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT,
                        "--format", "json", "--smtp", "127.0.0.1:1")  # fmt: skip
    rows = {r["app"]: r for r in json.loads(out)}
    assert code == 1
    assert rows["gateway"]["action"] == "error"
    assert "release feed: [0].url: Field required" in rows["gateway"]["error"]
    assert rows["shop"]["action"] == "campaign"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'index: "http://127.0.0.1:9/simple/"',
            'index: "ftp://x/simple/"',
            ":11: assets[3].channel.index: must be an http://, https:// or file: URL",
        ),
        ("type: apt", "type: yum", ":18: assets[4].channel.type: unknown type 'yum' (hint: "),
        ('version: "3.9.0"', 'version: ""', ":21: assets[5]: an application with a channel"),
        ("notify: {webhook", "notif: {webhook", "assets[4].notif: unknown field"),
    ],
)
def test_bad_channels_are_refused_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    inventory = _inventory(tmp_path, "http://127.0.0.1:9")
    text = inventory.read_text()
    assert old in text
    inventory.write_text(text.replace(old, new, 1))
    code, out, err = _run(capsys, "channels", "check", "-i", str(inventory), "--at", AT)
    assert code == 2, out + err
    assert f"{inventory}:" in err and message in err, err
    assert not (tmp_path / "channel-campaigns").exists()
