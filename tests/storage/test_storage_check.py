"""Storage accounts against their baseline: the rules, and a real service read through its API.

The service is Azurite, Microsoft's Azure Storage emulator (npm ``azurite``, installed by
``scripts/lab-deps``), on loopback: containers are created through ``azure-storage-blob``,
one of them public, soft delete is turned on, and ``patchwarden storage check`` reads them
back with an account SAS (never the account key) and reports the gaps, each saying whether
its setting came from the service or the inventory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.assess.storage import check_storage_account
from patchwarden.domain.assets import StorageAccount
from patchwarden.domain.storage import StorageObservation

# Azurite's documented development account (public, the same in every installation).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _account(**fields: object) -> StorageAccount:
    base: dict[str, object] = {"id": "acct", "kind": "storage_account", "env": "prod",
                               "storage_type": "object"}  # fmt: skip
    return StorageAccount.model_validate({**base, **fields})


TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("fields", "observed", "expected"),
    [
        ({"versioning": True}, None, []),
        ({"env": "dev"}, None, []),
        (
            {"encryption": {"at_rest": False, "in_transit": False}, "min_tls": "1.0",
             "public_access": True, "versioning": True},
            None,
            [("encryption_at_rest", "high", "inventory"), ("encryption_in_transit", "high",
             "inventory"), ("min_tls", "medium", "inventory"), ("public_access", "high",
             "inventory")],
        ),
        ({"criticality": "critical", "redundancy": "zone", "versioning": True}, None,
         [("redundancy", "medium", "inventory")]),
        # the service's word wins, either way
        ({"criticality": "critical", "redundancy": "local", "versioning": True},
         StorageObservation(redundancy="geo"), []),
        ({"criticality": "high", "redundancy": "geo", "public_access": True},
         StorageObservation(redundancy="local", soft_delete_days=0, public_containers=()),
         [("redundancy", "medium", "service"), ("recoverability", "medium", "service")]),
        ({"roles": ["logs"], "versioning": True}, None, [("lifecycle", "low", "inventory")]),
        ({"roles": ["logs"], "versioning": True,
          "lifecycle": [{"after_days": 30, "action": "cool"}]}, None,
         [("lifecycle", "low", "inventory")]),
        ({"roles": ["logs"], "versioning": True,
          "lifecycle": [{"after_days": 365, "action": "delete"}]}, None, []),
    ],
)  # fmt: skip
def test_rules(
    fields: dict[str, object],
    observed: StorageObservation | None,
    expected: list[tuple[str, str, str]],
) -> None:
    gaps = check_storage_account(_account(**fields), observed, TODAY)
    assert [(g.rule, g.severity.value, g.source) for g in gaps] == expected
    for g in gaps:  # due by the policy's service levels: high 30 days, medium 90, low 180
        days = {"critical": 7, "high": 30, "medium": 90, "low": 180}[g.severity.value]
        assert g.due == TODAY + timedelta(days=days)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def azurite(tmp_path: Path) -> Iterator[str]:
    """Azurite's blob service on loopback; its endpoint."""
    binary = shutil.which("azurite-blob")
    assert binary, "azurite-blob is missing: run scripts/lab-deps (npm install -g azurite)"
    port = _free_port()
    log = tmp_path / "azurite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
             str(tmp_path / "azurite"), "--silent", "--skipApiVersionCheck", "--loose"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "azurite did not start in 60 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/{ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_storage_check_reads_azurite_with_a_sas(azurite: str, tmp_path: Path) -> None:
    from azure.storage.blob import (
        AccountSasPermissions,
        BlobServiceClient,
        ResourceTypes,
        RetentionPolicy,
        generate_account_sas,
    )

    admin = BlobServiceClient(azurite, credential={"account_name": ACCOUNT, "account_key": KEY})
    admin.create_container("evidence")
    admin.create_container("site", public_access="blob")
    admin.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=7))
    sas = generate_account_sas(
        ACCOUNT, KEY, ResourceTypes(service=True, container=True),
        AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f"""\
environments: [dev, prod]
assets:
  - id: evidence
    kind: storage_account
    env: prod
    storage_type: object
    criticality: critical
    redundancy: local          # the service says otherwise (its SKU), and wins
    min_tls: "1.1"             # not shown by the data plane: from here
    roles: [logs]
    driver: azure_blob
    driver_config: {{endpoint: "{azurite}", sas_env: EVIDENCE_SAS}}
  - {{id: scratch, kind: storage_account, env: dev, storage_type: object}}
""")
    env = {**os.environ, "EVIDENCE_SAS": sas}
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "storage", "check", "-i", str(inventory),
         "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["read_from"] == {"evidence": f"service {azurite}", "scratch": "inventory"}
    gaps = {(g["asset_id"], g["rule"]): g for g in result["gaps"]}
    assert set(gaps) == {
        ("evidence", "min_tls"), ("evidence", "public_access"), ("evidence", "lifecycle"),
    }, gaps  # fmt: skip
    assert gaps["evidence", "public_access"]["source"] == "service"
    assert "site" in gaps["evidence", "public_access"]["reason"]
    assert gaps["evidence", "min_tls"]["source"] == "inventory"
    # soft delete (7 days) is read from the service, so prod recoverability holds.

    # No SAS: said, exit 1, and the inventory's settings used instead.
    env.pop("EVIDENCE_SAS")
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "storage", "check", "-i", str(inventory),
         "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "set EVIDENCE_SAS to a SAS token" in done.stderr
    rules = {g["rule"] for g in json.loads(done.stdout)["gaps"] if g["asset_id"] == "evidence"}
    assert {"redundancy", "recoverability"} <= rules


def test_an_account_key_in_the_configuration_is_refused(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("""\
assets:
  - id: evidence
    kind: storage_account
    env: prod
    storage_type: object
    driver: azure_blob
    driver_config: {endpoint: "https://x.blob.core.windows.net", sas_env: X, account_key: k}
""")
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "storage", "check", "-i", str(inventory)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "inventory.yaml:7: assets[0].driver_config.account_key: unknown field" in done.stderr
