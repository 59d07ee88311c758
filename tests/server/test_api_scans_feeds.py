"""Scans and feeds through a real server.

Scans reach real hosts: this machine itself (an asset whose connection is ``local``: real
``dpkg-query``, no mock) and a host that accepts connections and never answers (so a scan
is seen in the middle, one host done of two). Feeds are real files from tests/data, uploaded,
and synced from an HTTP server on loopback. A server stopped in the middle of a scan is
restarted and says the scan was interrupted.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_harness import Server, seed_users, start_server, stop_server
from test_cli_server import cli

from patchwarden.store import open_store
from patchwarden.store.audit import AuditFilter

pytestmark = pytest.mark.slow  # servers of their own, a scan waiting on a silent host

DATA = Path(__file__).parents[1] / "data"
OSV_FILES = sorted((DATA / "osv").rglob("*.json"))
KEV_JSON = DATA / "feeds" / "known_exploited_vulnerabilities.sample.json"
PROVIDER = DATA / "csaf" / "rolie" / "example-01-provider-metadata.json"

INVENTORY = """\
assets:
  - {{id: self-01, kind: vm, env: qa, roles: [web], connection: {{transport: local}}}}
  - {{id: mute-01, kind: vm, env: qa, roles: [web],
      connection: {{transport: ssh, address: 127.0.0.1, port: {port}}}}}
  - {{id: prod-01, kind: vm, env: prod, roles: [web], connection: {{transport: local}}}}
  - {{id: nowhere-01, kind: vm, env: qa, roles: [db]}}
"""


def _osv_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in OSV_FILES:
            archive.write(path, path.name)
    return buffer.getvalue()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


@dataclass
class Estate:
    """A server with an inventory of its own, a silent SSH host, and a feed server."""

    server: Server
    inventory: Path
    feeds_url: str
    restart: Callable[[], None]


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    base = tmp_path_factory.mktemp("scans")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    inventory = base / "estate.yaml"
    inventory.write_text(INVENTORY.format(port=silent.getsockname()[1]))
    www = base / "www"
    www.mkdir()
    (www / "all.zip").write_bytes(_osv_zip())
    (www / "kev.json").write_bytes(KEV_JSON.read_bytes())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(www)))
    feeds = threading.Thread(target=httpd.serve_forever, daemon=True)
    feeds.start()
    feeds_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    config = base / "feeds.toml"
    config.write_text(f'[sources]\nosv = "{feeds_url}/all.zip"\nkev = "{feeds_url}/kev.json"\n')
    db = f"sqlite:///{base / 'patchwarden.db'}"
    tokens = seed_users(db)
    options = (
        "--inventory", str(inventory), "--feeds-config", str(config),
        "--feeds-state", str(base / "feeds-state.json"),
    )  # fmt: skip
    process, url = start_server(db, base / "server.log", *options)
    server = Server(url, db, tokens, base / "server.log")

    def restart() -> None:
        nonlocal process
        stop_server(process)
        process, server.url = start_server(db, base / "server.log", *options)

    try:
        yield Estate(server, inventory, feeds_url, restart)
    finally:
        stop_server(process)
        httpd.shutdown()
        httpd.server_close()
        silent.close()


def wait_for(
    c: httpx.Client, path: str, done: Callable[[dict[str, Any]], bool], timeout: float = 120
) -> list[dict[str, Any]]:
    """Poll ``path`` until ``done`` holds; every answer seen, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = c.get(path)
        assert answer.status_code == 200, answer.text
        seen.append(answer.json())
        if done(seen[-1]):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{path} never got there: {seen[-3:]}")


def audit(server: Server, object_id: str) -> list[tuple[str, str]]:
    with open_store(server.db) as store:
        entries = store.audit.entries(AuditFilter(object_id=object_id))
    return [(e.actor, e.action) for e in entries]


def test_a_scan_runs_in_the_background_shows_its_progress_and_stores_every_host(
    estate: Estate,
) -> None:
    server = estate.server
    with server.client("otto") as otto, server.client("vera") as vera:
        r = otto.post("/api/v1/scans", json={"select": ["env=qa"], "timeout_s": 8})
        assert r.status_code == 202, r.text
        task = r.json()
        assert task["state"] == "running" and task["progress"]["total"] == 2
        assert task["request"]["assets"] == ["self-01", "mute-01"]  # nowhere-01: no connection
        seen = wait_for(vera, f"/api/v1/scans/{task['id']}", lambda t: t["state"] != "running")
        # While the silent host held on, the scan stood at one host of two.
        assert any(t["state"] == "running" and t["progress"]["done"] == 1 for t in seen), seen
        end = seen[-1]
        assert end["state"] == "completed" and end["progress"]["done"] == 2
        assert end["result"]["scanned"] == ["self-01"] and end["result"]["failed"] == ["mute-01"]
        rows = {row["asset_id"]: row for row in end["result"]["scans"]}
        assert rows["self-01"]["ok"] and rows["self-01"]["packages"] > 10
        assert "timed out" in rows["mute-01"]["error"]
        # Stored, as `scan --stored` shows them; the failed one only when asked.
        stored = vera.get("/api/v1/scans/stored").json()
        assert [r["asset_id"] for r in stored] == ["self-01"]
        with_failed = vera.get("/api/v1/scans/stored", params={"failed": True}).json()
        assert {r["asset_id"] for r in with_failed} == {"self-01", "mute-01"}
        assert any(t["id"] == task["id"] for t in vera.get("/api/v1/scans").json())
    trail = audit(server, task["id"])
    assert trail == [("otto", "scan.start"), ("otto", "scan.end")]
    with open_store(server.db) as store:
        recorded = store.audit.entries(AuditFilter(action="scan.record"))
    assert recorded[-1].actor == "otto" and recorded[-1].details["task"] == task["id"]


def test_a_scan_is_refused_before_it_starts_when_it_has_nothing_to_do_or_reaches_too_far(
    estate: Estate,
) -> None:
    server = estate.server
    with server.client("otto") as otto, server.client("devon") as devon:
        r = otto.post("/api/v1/scans", json={"select": ["colour=blue"]})
        assert r.status_code == 400 and "colour" in r.json()["detail"]
        r = otto.post("/api/v1/scans", json={"select": ["role=db"]})
        assert r.status_code == 400 and "nothing to scan" in r.json()["detail"]
        # devon's role is limited to dev: qa hosts are beyond it.
        r = devon.post("/api/v1/scans", json={"select": ["env=qa"]})
        assert r.status_code == 403 and "qa" in r.json()["detail"]
        assert devon.get("/api/v1/scans").json() == []  # qa scans are not devon's to see
        assert devon.get("/api/v1/scans/stored").json() == []


def test_feed_files_are_imported_once_and_a_non_feed_or_a_provider_is_refused(
    estate: Estate,
) -> None:
    server = estate.server
    uploads = [("files", (p.name, p.read_bytes(), "application/json")) for p in OSV_FILES[:20]]
    uploads.append(("files", (KEV_JSON.name, KEV_JSON.read_bytes(), "application/json")))
    with server.client("otto") as otto, server.client("vera") as vera:
        before = vera.get("/api/v1/feeds").json()["advisories"]
        first = otto.post("/api/v1/feeds/import", files=uploads)
        assert first.status_code == 200, first.text
        report = first.json()
        assert report["inserted"] + report["updated"] + report["unchanged"] >= 20
        assert {s["kind"] for s in report["sources"]} >= {"osv-json", "kev-json"}
        again = otto.post("/api/v1/feeds/import", files=uploads).json()
        assert (again["inserted"], again["updated"]) == (0, 0)
        status = vera.get("/api/v1/feeds").json()
        assert status["advisories"] >= before + report["inserted"]
        assert status["last_change"]["by"] == "otto"
        # Not a feed: refused whole, nothing imported.
        r = otto.post(
            "/api/v1/feeds/import",
            files=[("files", ("notes.txt", b"hello", "text/plain")), uploads[0]],
        )
        assert r.status_code == 400 and "notes.txt" in r.json()["detail"]
        # A CSAF provider would make the server fetch what it lists: refused.
        r = otto.post(
            "/api/v1/feeds/import",
            files=[("files", (PROVIDER.name, PROVIDER.read_bytes(), "application/json"))],
        )
        assert r.status_code == 400 and "fetch" in r.json()["detail"]
        assert vera.get("/api/v1/feeds").json()["advisories"] == status["advisories"]
    with server.client("devon") as devon:
        r = devon.post("/api/v1/feeds/import", files=uploads[:1])
        assert r.status_code == 403


def test_a_sync_fetches_the_servers_sources_in_the_background(estate: Estate) -> None:
    server = estate.server
    with server.client("otto") as otto, server.client("root") as root:
        # Naming sources makes the server fetch them: admins only.
        r = otto.post("/api/v1/feeds/sync", json={"sources": {"x": "http://192.0.2.1/x.json"}})
        assert r.status_code == 403
        r = otto.post("/api/v1/feeds/sync", json={})
        assert r.status_code == 202, r.text
        task = r.json()
        assert task["request"]["sources"] == ["kev", "osv"]
        end = wait_for(otto, f"/api/v1/feeds/sync/{task['id']}", lambda t: t["state"] != "running")
        result = end[-1]
        assert result["state"] == "completed", result
        kinds = {s["name"]: s["kind"] for s in result["result"]["sources"]}
        assert kinds == {"osv": "osv-zip", "kev": "kev-json"}
        # The second sync finds nothing modified (ETag), and changes nothing.
        second = otto.post("/api/v1/feeds/sync", json={}).json()
        end = wait_for(
            otto, f"/api/v1/feeds/sync/{second['id']}", lambda t: t["state"] != "running"
        )
        # http.server sends Last-Modified, so the second fetch is conditional and not modified.
        assert all(s["not_modified"] for s in end[-1]["result"]["sources"]), end[-1]
        status = otto.get("/api/v1/feeds").json()
        assert status["advisories"] == len(OSV_FILES)  # every record of the archive, once
        assert [s["id"] for s in status["syncs"]][-2:] == [task["id"], second["id"]]
        assert set(status["sources"]) == {"osv", "kev"}
        # An admin may name a source; one that cannot be fetched ends failed, saying why.
        bad = root.post(
            "/api/v1/feeds/sync", json={"sources": {"kev": f"{estate.feeds_url}/missing.json"}}
        )
        assert bad.status_code == 202
        end = wait_for(
            root, f"/api/v1/feeds/sync/{bad.json()['id']}", lambda t: t["state"] != "running"
        )
        assert end[-1]["state"] == "failed" and "404" in end[-1]["error"]
    assert audit(server, task["id"]) == [("otto", "feeds.sync.start"), ("otto", "feeds.sync.end")]


def test_a_scan_cut_by_a_server_restart_is_reported_interrupted(estate: Estate) -> None:
    server = estate.server
    with server.client("otto") as otto:
        r = otto.post("/api/v1/scans", json={"select": ["id=mute-01"], "timeout_s": 600})
        assert r.status_code == 202
        scan_id = r.json()["id"]
    estate.restart()
    with server.client("vera") as vera:
        shown = vera.get(f"/api/v1/scans/{scan_id}").json()
        assert shown["state"] == "interrupted" and shown["started_by"] == "otto"
        assert shown["request"]["assets"] == ["mute-01"]
        assert vera.get("/api/v1/scans/nope").status_code == 404


def test_the_command_line_scans_imports_and_syncs_on_the_server(estate: Estate) -> None:
    server = estate.server
    done = cli(server, "otto", "scan", "--select", "id=self-01", "--format", "json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["asset_id"] == "self-01" and row["ok"] and row["source"] == "local"
    # One host of the two never answers: exit 1, the other still stored.
    done = cli(server, "otto", "scan", "--select", "env=qa", "--timeout", "5")
    assert done.returncode == 1 and "1 scan(s) ok, 1 failed" in done.stdout
    stored = cli(server, "vera", "scan", "--stored", "--format", "json")
    assert stored.returncode == 0 and "mute-01" in stored.stdout
    assert cli(server, "vera", "scan", "--select", "id=self-01").returncode == 2  # a viewer
    assert "--inventory" in cli(server, "otto", "scan", "-i", "x.yaml").stderr
    done = cli(server, "otto", "feeds", "import", str(OSV_FILES[0]), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sources"][0]["kind"] == "osv-json"
    done = cli(server, "otto", "feeds", "sync", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert {s["name"] for s in json.loads(done.stdout)["sources"]} == {"osv", "kev"}
    status = cli(server, "vera", "feeds", "status", "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["advisories"] >= 1
