"""Importing and syncing real feed files into a temporary SQLite store."""

from __future__ import annotations

import gzip
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from email.utils import formatdate
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from feeds_testdata import EPSS_CSV, KEV_JSON, OSV_DIR, OSV_FILES
from typer.testing import CliRunner

from patchwarden.cli import advisories as advisories_cli
from patchwarden.cli import feeds as feeds_cli
from patchwarden.feeds.osv import InvalidRecord
from patchwarden.service import feeds as service
from patchwarden.service.feeds import import_paths, load_sources, stored_advisories, sync_feeds
from patchwarden.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'feeds.db'}") as opened:
        yield opened


def test_import_real_data_then_again_is_unchanged(store: Store) -> None:
    first = import_paths(store, [OSV_DIR, KEV_JSON, EPSS_CSV])
    assert (first.inserted, first.updated, first.unchanged) == (106, 0, 0)
    assert not first.warnings
    assert {s.kind for s in first.sources} == {"osv-json", "kev-json", "epss-csv"}
    second = import_paths(store, [OSV_DIR, KEV_JSON, EPSS_CSV])
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 106)
    before = {r.id: r.imported_at for r in store.advisories()}
    import_paths(store, [OSV_DIR])
    assert {r.id: r.imported_at for r in store.advisories()} == before  # nothing rewritten


def test_changed_record_is_the_only_one_updated(store: Store, tmp_path: Path) -> None:
    import_paths(store, [OSV_DIR])
    raw = json.loads(OSV_FILES[0].read_text())
    raw["modified"] = "2030-01-01T00:00:00Z"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(raw))
    report = import_paths(store, [changed])
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)


def test_kev_then_osv_keeps_marks(store: Store, tmp_path: Path) -> None:
    # A record upstream of a KEV CVE; KEV imported after, then the record re-imported.
    record = {
        "id": "UBUNTU-CVE-2025-48384",
        "modified": "2025-08-01T00:00:00Z",
        "upstream": ["CVE-2025-48384"],
        "affected": [],
    }
    path = tmp_path / "u.json"
    path.write_text(json.dumps(record))
    import_paths(store, [path])
    marked = import_paths(store, [KEV_JSON])
    assert marked.updated == 1
    import_paths(store, [path])
    (advisory,) = stored_advisories(store)
    assert advisory.kev and str(advisory.kev_due) == "2025-09-15"


def test_malformed_record_is_skipped_with_its_id(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in OSV_FILES[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    bad = json.loads(OSV_FILES[5].read_text())
    bad["affected"][0]["ranges"][0]["events"] = [{"fixed": "1.0"}]
    (folder / "bad.json").write_text(json.dumps(bad))
    (folder / "broken.json").write_text("{not json")
    (folder / "README.md").write_text("not a feed, not read")
    report = import_paths(store, [folder])
    assert report.inserted == 5
    assert len(report.warnings) == 2
    assert any(bad["id"] in w and "introduced" in w for w in report.warnings)
    assert any("broken.json" in w and "not JSON" in w for w in report.warnings)


def test_unknown_file_named_explicitly_is_an_input_error(store: Store, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(InvalidRecord, match="notes.txt"):
        import_paths(store, [OSV_DIR, notes])
    assert store.advisories() == []


def test_crash_part_way_leaves_the_previous_catalog(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import_paths(store, OSV_FILES[:10])
    before = store.advisories()
    calls = 0
    real = service.advisory_record

    def crash_on_the_50th(advisory: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 50:
            raise RuntimeError("power cut")
        return real(advisory)

    monkeypatch.setattr(service, "advisory_record", crash_on_the_50th)
    with pytest.raises(RuntimeError, match="power cut"):
        import_paths(store, [OSV_DIR])
    assert store.advisories() == before


def _all_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in OSV_FILES:
            archive.writestr(path.name, path.read_bytes())
    return buf.getvalue()


class _Handler(SimpleHTTPRequestHandler):
    """Static files with ETag/Last-Modified, answering 304 to a matching If-None-Match."""

    requests: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = Path(self.directory) / self.path.lstrip("/")
        _Handler.requests.append((self.path, self.headers.get("If-None-Match", "")))
        if not path.is_file():
            self.send_error(404)
            return
        etag = f'"{path.stat().st_size}-{int(path.stat().st_mtime)}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.end_headers()
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(path.stat().st_mtime, usegmt=True))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "all.zip").write_bytes(_all_zip())
    (root / "kev.json").write_bytes(KEV_JSON.read_bytes())
    (root / "epss_scores-current.csv.gz").write_bytes(gzip.compress(EPSS_CSV.read_bytes()))
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_sync_from_a_local_server(store: Store, server: str, tmp_path: Path) -> None:
    sources = load_sources(
        None,
        [
            f"epss={server}/epss_scores-current.csv.gz",
            f"kev={server}/kev.json",
            f"osv-all={server}/all.zip",
        ],
    )
    state = tmp_path / "state.json"
    first = sync_feeds(store, sources, state)
    assert (first.inserted, first.updated, first.unchanged) == (106, 0, 0)
    assert [s.kind for s in first.sources] == ["osv-zip", "kev-json", "epss-csv"]
    assert json.loads(state.read_text())["kev"]["etag"]
    second = sync_feeds(store, sources, state)
    assert all(s.not_modified for s in second.sources)
    assert (second.inserted, second.updated) == (0, 0)
    assert all(etag for path, etag in _Handler.requests[3:])  # conditional the second time


def test_sync_missing_source_fails_and_changes_nothing(
    store: Store, server: str, tmp_path: Path
) -> None:
    from patchwarden.errors import DriverError

    sources = {"osv": f"{server}/all.zip", "kev": f"{server}/missing.json"}
    with pytest.raises(DriverError, match="404"):
        sync_feeds(store, sources, tmp_path / "state.json")
    assert store.advisories() == []
    assert not (tmp_path / "state.json").exists()


def test_sources_from_config_and_bad_source(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text('[sources]\nkev = "https://mirror.example/kev.json"\n')
    assert load_sources(config, []) == {"kev": "https://mirror.example/kev.json"}
    assert "epss" in load_sources(None, [])
    from patchwarden.errors import UsageError

    with pytest.raises(UsageError, match="NAME=URL"):
        load_sources(None, ["nourl"])


def test_cli_import_json_and_advisories_affected(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(feeds_cli.app, ["import", str(OSV_DIR), "--format", "json", "--db", db])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inserted"] == 106

    def affected(*args: str) -> list[str]:
        out = runner.invoke(advisories_cli.app, ["affected", *args, "--db", db])
        assert out.exit_code == 0, out.output
        return out.stdout.split()

    assert affected("Ubuntu:16.04:LTS", "netqmail", "1.06-5") == ["CVE-2005-1514"]
    assert affected("Ubuntu:16.04:LTS", "netqmail", "1.06-6.2~deb10u1build0.16.04.1") == []
    assert affected("AlmaLinux:10", "avahi", "0.9~rc1-1.el10") == ["ALSA-2025:16441"]
    assert affected("AlmaLinux:9", "avahi", "0.9~rc1-1.el10") == []
    assert affected("PyPI", "jinja2", "2.11.2") == []
    assert affected("Debian:7", "nginx", "1.2.1-2.2+wheezy2") == ["DSA-3029-1"]
    assert affected("Debian:7", "nginx", "1.2.1-2.2+wheezy3") == []
