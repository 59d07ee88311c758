"""CSAF documents signed with OpenPGP: verified with the provider's announced key, or refused.

A real key is made by the test (``gpg --batch --quick-gen-key`` in a temporary GNUPGHOME)
and real detached, armored signatures (``gpg --detach-sign --armor``) are published next to
the real CSAF samples by a provider on a real HTTP server on 127.0.0.1, its
``provider-metadata.json`` announcing the key's URL and fingerprint as the CSAF standard
says. Verification runs ``gpgv`` against a keyring of the announced key alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from csaf_samples import CISCO, DATA, load
from patchwarden.cli.main import main
from patchwarden.service.feeds import import_paths, stored_advisories
from patchwarden.store import open_store
from patchwarden.testing.channels import ChannelServer

pytestmark = pytest.mark.skipif(
    shutil.which("gpg") is None or shutil.which("gpgv") is None, reason="needs gnupg and gpgv"
)
BSI = DATA / "documents" / "bsi-2022-0001.json"


class Signer:
    """A key pair in its own GNUPGHOME; signs files, exports the public key."""

    def __init__(self, home: Path, uid: str) -> None:
        self.home = home
        home.mkdir(mode=0o700)
        self._gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
        listed = self._gpg("--with-colons", "--fingerprint", "--list-keys").stdout
        self.fingerprint = next(
            line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:")
        )

    def _gpg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["gpg", "--batch", "--no-tty", "--passphrase", "", "--pinentry-mode", "loopback",
             *args],
            env={**os.environ, "GNUPGHOME": str(self.home)},
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip

    def sign(self, path: Path) -> Path:
        signature = path.with_name(path.name + ".asc")
        self._gpg("--yes", "--local-user", self.fingerprint, "--armor", "--detach-sign",
                  "--output", str(signature), str(path))  # fmt: skip
        return signature

    def public_key(self) -> bytes:
        return self._gpg("--armor", "--export", self.fingerprint).stdout.encode()

    def stop(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env={**os.environ, "GNUPGHOME": str(self.home)},
                       check=False, capture_output=True, timeout=30)  # fmt: skip


@pytest.fixture
def signer(tmp_path: Path) -> Iterator[Signer]:
    made = Signer(tmp_path / "vendor-gnupg", "PSIRT Example <psirt@example.com>")
    try:
        yield made
    finally:
        made.stop()


def _publish(
    root: Path,
    base: str,
    signer: Signer,
    documents: list[Path],
    *,
    signed: tuple[str, ...] | None = None,
    fingerprint: str | None = None,
) -> str:
    """A provider as the real examples are: metadata (with its key) → ROLIE feed → documents,
    each with a hash, and a signature where ``signed`` names it (all by default)."""
    example = load(DATA / "rolie" / "example-01-provider-metadata.json")
    feed = load(DATA / "rolie" / "example-01-feed-tlp-white.json")
    (root / "docs").mkdir(parents=True, exist_ok=True)
    entries = []
    for path in documents:
        copy_ = root / "docs" / path.name
        copy_.write_bytes(path.read_bytes())
        (root / "docs" / f"{path.name}.sha256").write_text(
            f"{hashlib.sha256(copy_.read_bytes()).hexdigest()}  {path.name}\n"
        )
        entry = copy.deepcopy(feed["feed"]["entry"][0])
        entry["id"] = path.stem
        entry["link"] = [
            {"rel": "self", "href": f"docs/{path.name}"},
            {"rel": "hash", "href": f"docs/{path.name}.sha256"},
        ]
        if signed is None or path.name in signed:
            signer.sign(copy_)
            entry["link"].append({"rel": "signature", "href": f"docs/{path.name}.asc"})
        entries.append(entry)
    feed["feed"]["entry"] = entries
    (root / "feed-tlp-white.json").write_text(json.dumps(feed))
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "psirt.asc").write_bytes(signer.public_key())
    example["canonical_url"] = f"{base}/provider-metadata.json"
    example["distributions"][0]["rolie"]["feeds"][0]["url"] = f"{base}/feed-tlp-white.json"
    example["public_openpgp_keys"] = [
        {"url": f"{base}/keys/psirt.asc",
         "fingerprint": signer.fingerprint if fingerprint is None else fingerprint}
    ]  # fmt: skip
    (root / "provider-metadata.json").write_text(json.dumps(example))
    return f"{base}/provider-metadata.json"


def test_signed_documents_are_verified_with_the_announced_key(
    tmp_path: Path, signer: Signer
) -> None:
    root = tmp_path / "provider"
    with ChannelServer(root) as server, open_store(f"sqlite:///{tmp_path / 'ok.db'}") as store:
        url = _publish(root, server.url, signer, [CISCO, BSI], signed=(CISCO.name,))
        report = import_paths(store, [url])
        advisories = {a.id: a for a in stored_advisories(store)}
    assert report.inserted == 2
    assert report.warnings == [
        f"{url}: {server.url}/docs/{BSI.name}: unsigned (the provider publishes no .asc "
        "signature for it)"
    ]
    signature = {i: a.database_specific["csaf"]["signature"] for i, a in advisories.items()}
    assert signature == {
        "cisco-sa-20180328-smi2": f"verified {signer.fingerprint}",
        "BSI-2022-0001": "unsigned",
    }


def test_a_tampered_document_is_refused_and_nothing_is_imported(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "provider"
    db = f"sqlite:///{tmp_path / 'tampered.db'}"
    with ChannelServer(root) as server:
        url = _publish(root, server.url, signer, [CISCO, BSI])
        # Changed after signing; its hash file is rewritten to match, so only the
        # signature can tell.
        doc = root / "docs" / BSI.name
        data = json.loads(doc.read_text())
        data["document"]["title"] += " (edited)"
        doc.write_text(json.dumps(data))
        (root / "docs" / f"{BSI.name}.sha256").write_text(
            hashlib.sha256(doc.read_bytes()).hexdigest() + "\n"
        )
        assert main(["feeds", "import", url, "--db", db]) == 2
    err = capsys.readouterr().err
    assert f"{server.url}/docs/{BSI.name}: BAD signature" in err, err
    assert signer.fingerprint in err and "nothing was imported" in err
    with open_store(db) as opened:
        assert opened.advisories() == []


def test_a_signature_by_another_key_is_refused(tmp_path: Path, signer: Signer) -> None:
    other = Signer(tmp_path / "other-gnupg", "Someone Else <x@example.org>")
    try:
        root = tmp_path / "provider"
        with ChannelServer(root) as server:
            url = _publish(root, server.url, signer, [CISCO])
            other.sign(root / "docs" / CISCO.name)  # replaces the vendor's .asc
            with open_store(f"sqlite:///{tmp_path / 'other.db'}") as store:
                with pytest.raises(Exception, match="signed by a key that is not the provider's"):
                    import_paths(store, [url])
                assert store.advisories() == []
    finally:
        other.stop()


def test_a_key_whose_fingerprint_is_not_the_announced_one_is_refused(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "provider"
    db = f"sqlite:///{tmp_path / 'fpr.db'}"
    wrong = "0123456789ABCDEF0123456789ABCDEF01234567"
    with ChannelServer(root) as server:
        url = _publish(root, server.url, signer, [CISCO], fingerprint=wrong)
        assert main(["feeds", "import", url, "--db", db]) == 2
    err = capsys.readouterr().err
    assert f"the key's fingerprint is {signer.fingerprint}, not the announced {wrong}" in err
    with open_store(db) as opened:
        assert opened.advisories() == []
