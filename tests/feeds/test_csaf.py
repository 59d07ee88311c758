"""CSAF 2.0: the real OASIS samples parsed, imported (files, directories, a provider over
HTTP with hashes checked), bad documents refused with file and JSON path, revisions replaced.

The provider is served by a real HTTP server on 127.0.0.1 (:class:`ChannelServer`): its
``provider-metadata.json`` and ROLIE feed are written the way the real examples in
``tests/data/csaf/rolie`` are, pointing at the server instead of ``example.com``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from csaf_samples import CISCO, DATA, SAMPLES, cisco_with_fix, load
from patchwarden.cli import feeds as feeds_cli
from patchwarden.cli.main import main
from patchwarden.feeds.csaf import InvalidCsaf, csaf_statements, parse_csaf, to_vers
from patchwarden.service.feeds import import_paths, stored_advisories
from patchwarden.store import Store, open_store
from patchwarden.testing.channels import ChannelServer


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(f"sqlite:///{tmp_path / 'csaf.db'}") as opened:
        yield opened


def test_every_sample_parses() -> None:
    assert len(SAMPLES) == 19  # every document and VEX sample, not an empty glob
    for path in SAMPLES:
        warnings: list[str] = []
        advisory = parse_csaf(load(path), str(path), warnings)
        assert advisory.id == load(path)["document"]["tracking"]["id"]
        assert not warnings, warnings


def test_cisco_golden() -> None:
    advisory = parse_csaf(load(CISCO), "cisco.json")
    assert (advisory.id, advisory.aliases) == ("cisco-sa-20180328-smi2", ("CVE-2018-0171",))
    assert (advisory.severity.value, advisory.cvss_score) == ("critical", 9.8)
    statements = csaf_statements(advisory)
    assert len(statements) == 259 and {s.status for s in statements} == {"known_affected"}
    # The version is the innermost branch: the service pack under its release train.
    one = next(s for s in statements if s.product.version == "15.0(2)SE4")
    assert (one.product.vendor, one.product.product) == ("Cisco", "IOS")
    assert one.fixes == () and one.remedy.startswith("workaround: There are no workarounds")
    xe = {s.product.product for s in statements}
    assert xe == {"IOS", "Cisco IOS XE Software"}


def test_vex_ranges_fixes_and_justifications() -> None:
    uc08 = csaf_statements(parse_csaf(load(DATA / "vex" / "2022-evd-uc-08-001.json"), "uc08"))
    jkl = [s for s in uc08 if s.product.product == "JKL" and s.status == "known_affected"]
    by = {(s.cve, s.product.version or s.product.vers): s for s in jkl}
    # Fixed for one CVE (5.1), still affected by the other: status is per vulnerability.
    assert by[("CVE-2021-44228", "vers:generic/>=4.5|<=5.0")].recommended == "5.2"
    assert by[("CVE-2021-44228", "vers:generic/>=4.5|<=5.0")].fixes == ("5.1", "5.2")
    assert by[("CVE-2021-45105", "5.1")].fixes == ("5.2",)
    # "Update to version 4.2 or later": 4.2 is a version of ABC the tree lists.
    abc = next(s for s in uc08 if s.product.version == "2.4" and s.cve == "CVE-2021-44228")
    assert abc.fixes == ("4.2",)
    sec = csaf_statements(parse_csaf(load(DATA / "vex" / "sec-vex-2022-0001.json"), "sec"))
    assert sec[0].product.vers == "vers:generic/<=1.14.0"  # a bare range, read as vers
    assert sec[0].justification.startswith("component not present; Secvisogram is written")


def test_to_vers_keeps_text_it_cannot_read() -> None:
    assert to_vers("vers:generic/>=2.9|<=4.1") == "vers:generic/>=2.9|<=4.1"
    assert to_vers(">= 1.0 | < 2.0") == "vers:generic/>=1.0|<2.0"
    assert to_vers("all versions before 2.0") == ""


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["document"].pop("tracking"), "/document/tracking: missing"),
        (lambda d: d["document"].update(csaf_version="1.2"), "/document/csaf_version"),
        (
            lambda d: d["vulnerabilities"][0]["product_status"]["known_affected"].append("NOPE"),
            "/vulnerabilities/0/product_status/known_affected/259: product id 'NOPE'",
        ),
        (
            lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].update(vectorString="X"),
            "/vulnerabilities/0/scores/0/cvss_v3/vectorString",
        ),
        (
            lambda d: d["product_tree"]["branches"][0].pop("category"),
            "/product_tree/branches/0/category: missing",
        ),
    ],
)
def test_bad_document_names_file_and_json_path(change: Any, where: str) -> None:
    doc = load(CISCO)
    change(doc)
    with pytest.raises(InvalidCsaf, match="^bad.json: ") as caught:
        parse_csaf(doc, "bad.json")
    assert where in str(caught.value)


def test_bad_document_in_a_directory_stops_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "csaf"
    folder.mkdir()
    for path in SAMPLES[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    doc = load(CISCO)
    doc["vulnerabilities"][0]["product_status"]["known_affected"][0] = "NOPE"
    (folder / "zz-bad.json").write_text(json.dumps(doc))
    assert main(["feeds", "import", str(folder), "--db", f"sqlite:///{tmp_path / 'cli.db'}"]) == 2
    assert (
        "zz-bad.json: /vulnerabilities/0/product_status/known_affected/0" in capsys.readouterr().err
    )
    with open_store(f"sqlite:///{tmp_path / 'cli.db'}") as opened:
        assert opened.advisories() == []  # nothing imported


def test_import_samples_then_newer_revision_replaces_older(store: Store, tmp_path: Path) -> None:
    first = import_paths(store, [DATA / "documents", DATA / "vex"])
    assert (first.inserted, first.updated, first.warnings) == (19, 0, [])
    assert {s.kind for s in first.sources} == {"csaf-json"}
    newer = tmp_path / "cisco-3.1.0.json"
    newer.write_text(json.dumps(cisco_with_fix()))
    second = import_paths(store, [newer])
    assert (second.inserted, second.updated) == (0, 1)
    # The older revision again: the stored newer one stays, and the import says so.
    third = import_paths(store, [CISCO])
    assert (third.updated, third.unchanged) == (0, 0)
    assert third.warnings == [
        "cisco-sa-20180328-smi2: revision 3.0.0 is older than the stored 3.1.0; kept the stored one"
    ]
    stored = {a.id: a for a in stored_advisories(store)}["cisco-sa-20180328-smi2"]
    assert stored.database_specific["csaf"]["revision"] == "3.1.0"
    # The fixed release is one of IOS: IOS XE products (same vendor, other product) get none.
    statements = csaf_statements(stored)
    fixes = {(s.product.product, s.fixes) for s in statements if s.status == "known_affected"}
    assert fixes == {("IOS", ("15.2(2)E8",)), ("Cisco IOS XE Software", ())}
    assert [s.product.version for s in statements if s.status == "fixed"] == ["15.2(2)E8"]


def _publish(root: Path, base: str, documents: list[Path], *, tamper: str = "") -> str:
    """Write a provider as the real examples do: metadata → ROLIE feed → documents + hashes."""
    example = load(DATA / "rolie" / "example-01-provider-metadata.json")
    feed_example = load(DATA / "rolie" / "example-01-feed-tlp-white.json")
    entries = []
    for path in documents:
        data = path.read_bytes()
        (root / "docs").mkdir(parents=True, exist_ok=True)
        (root / "docs" / path.name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if path.name == tamper:
            digest = hashlib.sha256(data + b" ").hexdigest()
        (root / "docs" / f"{path.name}.sha256").write_text(f"{digest}  {path.name}\n")
        entry = copy.deepcopy(feed_example["feed"]["entry"][0])
        entry["id"] = path.stem
        entry["link"] = [
            {"rel": "self", "href": f"docs/{path.name}"},  # relative: resolved against the feed
            {"rel": "hash", "href": f"{base}/docs/{path.name}.sha256"},
        ]
        entry["content"]["src"] = f"{base}/docs/{path.name}"
        entries.append(entry)
    feed_example["feed"]["entry"] = entries
    (root / "feed-tlp-white.json").write_text(json.dumps(feed_example))
    # The example's key lives at keys.example.net; signatures are tested in
    # test_csaf_signatures.py with a key made there.
    example.pop("public_openpgp_keys", None)
    example["canonical_url"] = f"{base}/provider-metadata.json"
    example["distributions"][0]["rolie"]["feeds"][0]["url"] = f"{base}/feed-tlp-white.json"
    (root / "provider-metadata.json").write_text(json.dumps(example))
    return f"{base}/provider-metadata.json"


def test_provider_over_http_with_hashes_checked(tmp_path: Path) -> None:
    root = tmp_path / "provider"
    root.mkdir()
    db = f"sqlite:///{tmp_path / 'provider.db'}"
    docs = [
        CISCO,
        DATA / "vex" / "2022-evd-uc-08-001.json",
        DATA / "documents" / "bsi-2022-0001.json",
    ]
    with ChannelServer(root) as server:
        url = _publish(root, server.url, docs)
        with open_store(db) as store:
            report = import_paths(store, [url])
        assert report.inserted == 3
        # Hashes checked; no signature published, so each is reported unsigned.
        assert report.warnings == [
            f"{url}: {server.url}/docs/{d.name}: unsigned (the provider publishes no .asc signature for it)"
            for d in docs
        ]
        assert report.sources[0].kind == "csaf-provider"
        # The same through the command line: nothing new.
        result = CliRunner().invoke(feeds_cli.app, ["import", url, "--db", db, "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["unchanged"] == 3


def test_provider_document_whose_hash_differs_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "provider"
    root.mkdir()
    db = f"sqlite:///{tmp_path / 'refused.db'}"
    with ChannelServer(root) as server:
        url = _publish(root, server.url, [CISCO, DATA / "documents" / "bsi-2022-0001.json"],
                       tamper="bsi-2022-0001.json")  # fmt: skip
        assert main(["feeds", "import", url, "--db", db]) == 2
    err = capsys.readouterr().err
    assert "bsi-2022-0001.json: SHA256 is" in err
    assert "nothing was imported" in err
    with open_store(db) as opened:
        assert opened.advisories() == []
