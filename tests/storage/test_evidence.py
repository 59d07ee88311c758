"""``patchwarden evidence``: kept, read back, verified against the audit trail, aged by rules.

In a local directory, and in a container of a real Azure storage emulator (Azurite, on
loopback) reached with a SAS (never the account key), where tiers are the service's own.
Every command runs as its own process, as a person runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_storage_check import ACCOUNT, KEY, azurite  # noqa: F401 - the fixture, shared

EVIDENCE = {
    "reports/2026-11.html": b"<html>report of November</html>\n",
    "plans/2026-11-security.json": b'{"schema_version": 1}\n',
    "audit/head-2026-11-30.json": b'{"seq": 42, "hash": "ab"}\n',
}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", "evidence", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _put_all(env: dict[str, str], tmp_path: Path, where: list[str]) -> None:
    for name, data in EVIDENCE.items():
        source = tmp_path / "src" / name.replace("/", "_")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(data)
        done = _cli(env, "put", str(source), "--as", name, *where)
        assert done.returncode == 0, done.stdout + done.stderr


def test_directory_evidence_is_verified_and_aged(tmp_path: Path) -> None:
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}"}
    store = tmp_path / "evidence"
    where = ["--dir", str(store)]
    _put_all(env, tmp_path, where)
    again = _cli(env, "put", str(tmp_path / "src" / "reports_2026-11.html"),
                 "--as", "reports/2026-11.html", *where)  # fmt: skip
    assert again.returncode == 1 and "never overwritten" in again.stderr

    listed = json.loads(_cli(env, "list", *where, "--format", "json").stdout)
    assert [(o["name"], o["tier"]) for o in listed] == [
        ("audit/head-2026-11-30.json", "hot"), ("plans/2026-11-security.json", "hot"),
        ("reports/2026-11.html", "hot"),
    ]  # fmt: skip
    got = _cli(env, "get", "reports/2026-11.html", *where)
    assert got.stdout.encode() == EVIDENCE["reports/2026-11.html"]
    verified = _cli(env, "verify", *where)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("ok ") == 3

    # Tampering shows: one object changed, one put there by hand.
    (store / "plans/2026-11-security.json").write_bytes(b'{"schema_version": 2}\n')
    (store / "reports/extra.html").write_bytes(b"not through patchwarden")
    verified = _cli(env, "verify", *where, "--format", "json")
    assert verified.returncode == 1
    status = {r["name"]: r["status"] for r in json.loads(verified.stdout)}
    assert status == {
        "audit/head-2026-11-30.json": "ok", "plans/2026-11-security.json": "changed",
        "reports/2026-11.html": "ok", "reports/extra.html": "unrecorded",
    }  # fmt: skip
    (store / "reports/extra.html").unlink()
    (store / "plans/2026-11-security.json").write_bytes(EVIDENCE["plans/2026-11-security.json"])

    # Lifecycle by age (a directory has no tiers: patchwarden applies and records them).
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("""\
assets:
  - id: evidence
    kind: storage_account
    env: prod
    storage_type: object
    lifecycle: [{after_days: 30, action: cool}, {after_days: 90, action: archive},
                {after_days: 400, action: delete}]
""")
    old = time.time() - 100 * 86400
    os.utime(store / "reports/2026-11.html", (old, old))
    older = time.time() - 500 * 86400
    os.utime(store / "audit/head-2026-11-30.json", (older, older))
    # Rules belong to a storage account: a bare directory has none to apply.
    refused = _cli(env, "lifecycle", *where)
    assert refused.returncode == 2 and "no lifecycle rules" in refused.stderr
    moved = _lifecycle_dir(env, store, inventory)
    assert "reports/2026-11.html: hot -> archive" in moved
    assert "audit/head-2026-11-30.json: hot -> delete" in moved
    listed = json.loads(_cli(env, "list", *where, "--format", "json").stdout)
    assert [(o["name"], o["tier"]) for o in listed] == [
        ("plans/2026-11-security.json", "hot"), ("reports/2026-11.html", "archive"),
    ]  # fmt: skip
    verified = _cli(env, "verify", *where)
    assert verified.returncode == 0, verified.stdout  # a recorded deletion is not missing


def _lifecycle_dir(env: dict[str, str], store: Path, inventory: Path) -> str:
    """The directory store under the rules of an account: through the service, as the CLI."""
    from patchwarden.service.audit import Actor
    from patchwarden.service.evidence import apply_lifecycle, open_evidence
    from patchwarden.service.sources import read_inventory
    from patchwarden.store import open_store

    evidence, _ = open_evidence(store)
    account = read_inventory([inventory]).inventory.by_id["evidence"]
    rules = account.lifecycle  # type: ignore[attr-defined]  # a StorageAccount asset
    with open_store(env["PATCHWARDEN_DB"]) as db:
        moves = apply_lifecycle(db, evidence, rules, Actor("test"), datetime.now(UTC))
    return "\n".join(f"{m.name}: {m.was} -> {m.now}" for m in moves)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_evidence_in_azurite_with_tiers(azurite: str, tmp_path: Path) -> None:  # noqa: F811 - pytest fixture
    from azure.storage.blob import (
        AccountSasPermissions,
        BlobServiceClient,
        ResourceTypes,
        generate_account_sas,
    )

    admin = BlobServiceClient(azurite, credential={"account_name": ACCOUNT, "account_key": KEY})
    admin.create_container("evidence")
    sas = generate_account_sas(
        ACCOUNT, KEY, ResourceTypes(container=True, object=True),
        AccountSasPermissions(read=True, write=True, list=True, delete=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f"""\
assets:
  - id: evidence
    kind: storage_account
    env: prod
    storage_type: object
    redundancy: geo
    versioning: true
    lifecycle: [{{after_days: 30, action: cool}}, {{after_days: 90, action: archive}}]
    driver: azure_blob
    driver_config: {{endpoint: "{azurite}", sas_env: EVIDENCE_SAS}}
""")
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}",
           "EVIDENCE_SAS": sas}  # fmt: skip
    where = ["-i", str(inventory), "--account", "evidence"]
    _put_all(env, tmp_path, where)
    listed = json.loads(_cli(env, "list", *where, "--format", "json").stdout)
    assert {(o["name"], o["tier"]) for o in listed} == {(n, "hot") for n in EVIDENCE}
    assert all(len(o["sha256"]) == 64 for o in listed)
    got = _cli(env, "get", "plans/2026-11-security.json", *where)
    assert got.stdout.encode() == EVIDENCE["plans/2026-11-security.json"]
    assert _cli(env, "verify", *where).returncode == 0

    # 40 days on: cool; 100 days on: archive, tiers set in the service itself.
    later = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    moved = _cli(env, "lifecycle", *where, "--at", later)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "3 object(s) moved" in moved.stdout
    container = admin.get_container_client("evidence")
    assert {b.name: str(b.blob_tier) for b in container.list_blobs()} == {
        n: "Cool" for n in EVIDENCE
    }
    later = (datetime.now(UTC) + timedelta(days=100)).isoformat()
    assert _cli(env, "lifecycle", *where, "--at", later).returncode == 0
    assert {str(b.blob_tier) for b in container.list_blobs()} == {"Archive"}
    verified = _cli(env, "verify", *where)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "archived" in verified.stdout

    # Changed behind our back (with the account key): verify says so.
    admin.get_blob_client("evidence", "extra.txt").upload_blob(b"not through patchwarden")
    verified = _cli(env, "verify", *where, "--format", "json")
    assert verified.returncode == 1
    assert {"name": "extra.txt", "status": "unrecorded",
            "detail": "not written through patchwarden"} in json.loads(verified.stdout)  # fmt: skip
