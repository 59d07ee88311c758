"""``patchwarden inventory upload|show --server`` against a real server: what is uploaded is
listed and shown as the local command shows the same files; a bad file is refused with
file:line: field (exit 2) and nothing is stored; a viewer cannot upload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serve_harness import Server

pytestmark = pytest.mark.slow  # a server of its own, and a command-line process per call

GOOD = """\
assets:
- {id: web-1, kind: vm, env: prod, criticality: high, internet_facing: true}
- {id: app-1, kind: application, env: dev, service_model: saas}
"""

BAD = """\
assets:
- {id: web-9, kind: vm, env: prod}
- {id: web-8, kind: vm, env: prod, memory_gb: lots}
"""


def cli(
    cwd: Path, server: Server | None, user: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    """``patchwarden ARGS`` in ``cwd``; with a server, ``--server URL`` as ``user``'s token and
    no local database (proving nothing is read or written here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWARDEN_")}
    extra: list[str] = []
    if server is not None:
        env["PATCHWARDEN_DB"] = "sqlite:////nonexistent/never-opened.db"
        extra = ["--server", server.url]
        if user is not None:
            env["PATCHWARDEN_TOKEN"] = server.tokens[user]
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args, *extra],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def by_id(stdout: str) -> list[dict[str, object]]:
    return sorted(json.loads(stdout), key=lambda row: str(row["id"]))


def test_upload_then_list_and_show_as_the_local_command_does(
    fresh_server: Server, tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    done = cli(tmp_path, fresh_server, "otto", "inventory", "upload", "good.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 2 assets in 1 file(s) stored on ")
    assert "(1 application, 1 vm): 2 inserted, 0 updated, 0 deleted, 0 unchanged" in done.stdout
    # The same rows as `inventory show` of the same files here, sources included.
    local = cli(tmp_path, None, None, "inventory", "show", "good.yaml", "--format", "json")
    assert local.returncode == 0, local.stderr
    remote = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--format", "json")
    assert remote.returncode == 0, remote.stderr
    assert by_id(remote.stdout) == by_id(local.stdout)
    assert [r["source"] for r in by_id(remote.stdout)] == ["good.yaml:3", "good.yaml:2"]
    provider = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--owner", "provider")
    assert provider.returncode == 0 and "app-1" in provider.stdout
    assert "web-1" not in provider.stdout and provider.stdout.endswith("1 asset(s)\n")
    one = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--asset", "web-1",
              "--format", "json")  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout) == [r for r in by_id(local.stdout) if r["id"] == "web-1"]
    missing = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--asset", "nope")
    assert missing.returncode == 2 and "no asset 'nope'" in missing.stderr
    # Uploaded again: nothing changed.
    again = cli(tmp_path, fresh_server, "otto", "inventory", "upload", "good.yaml")
    assert again.returncode == 0 and "0 inserted, 0 updated, 0 deleted, 2 unchanged" in again.stdout


def test_a_bad_upload_is_refused_with_file_line_field_and_nothing_is_stored(
    fresh_server: Server, tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    assert cli(tmp_path, fresh_server, "otto", "inventory", "upload", "good.yaml").returncode == 0
    before = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--format", "json").stdout
    (tmp_path / "bad.yaml").write_text(BAD)
    done = cli(tmp_path, fresh_server, "otto", "inventory", "upload", "bad.yaml")
    assert done.returncode == 2, done.stderr
    assert "bad.yaml:3" in done.stderr and "memory_gb" in done.stderr and not done.stdout
    after = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--format", "json").stdout
    assert json.loads(after) == json.loads(before) and "web-9" not in after


def test_a_viewer_cannot_upload_and_upload_needs_a_server(
    fresh_server: Server, tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    done = cli(tmp_path, fresh_server, "vera", "inventory", "upload", "good.yaml")
    assert done.returncode == 2 and "403" in done.stderr
    listed = cli(tmp_path, fresh_server, "vera", "inventory", "show", "--format", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    here = cli(tmp_path, None, None, "inventory", "upload", "good.yaml")
    assert here.returncode == 2 and "inventory validate" in here.stderr
    files = cli(tmp_path, fresh_server, "vera", "inventory", "show", "good.yaml")
    assert files.returncode == 2 and "inventory upload" in files.stderr
