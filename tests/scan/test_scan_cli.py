"""``patchwarden scan``: local and SBOM scans end to end, stored scans, bad input (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.cli.scan import select_assets
from patchwarden.errors import UsageError
from patchwarden.inventory import parse_inventory

GOLDEN = Path(__file__).parents[1] / "golden"

INVENTORY = """
environments: [dev, prod]
assets:
  - {id: here, kind: vm, env: dev, roles: [web], tags: {team: a}, connection: {transport: local}}
  - {id: shop, kind: application, env: prod, ecosystem: npm}
  - {id: db-1, kind: vm, env: prod, roles: [db]}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY)
    sbom = tmp_path / "shop.cdx.json"
    case = json.loads((GOLDEN / "sbom/cdxgen_python_app.json").read_text())
    sbom.write_text(json.dumps(case["input"]))
    return inventory, sbom


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_select_expressions() -> None:
    inventory = parse_inventory([("i.yaml", INVENTORY)]).inventory
    ids = lambda *e: [a.id for a in select_assets(inventory, e)]  # noqa: E731
    assert ids() == ["here", "shop", "db-1"]
    assert ids("env=prod,role=db") == ["db-1"]
    assert ids("db-*", "tag.team=a") == ["here", "db-1"]
    assert ids("kind=application") == ["shop"]
    with pytest.raises(UsageError, match="key=glob"):
        ids("colour=red")


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a Debian-family machine")
def test_scan_local_host_and_sbom_then_show_them_stored(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path]
) -> None:
    inventory, sbom = files
    code, out, _ = run(
        capsys, "scan", "-i", str(inventory), "--sbom", f"shop={sbom}", "--format", "json"
    )
    assert code == 0
    rows = {r["asset_id"]: r for r in json.loads(out)}
    assert set(rows) == {"here", "shop"}, "db-1 has neither a connection nor an SBOM"
    assert rows["here"]["source"] == "local" and rows["here"]["packages"] > 50
    assert rows["here"]["reboot_required"] in (True, False)
    # the SBOM holds PyPI packages only while the asset says npm: shown, flagged, not used
    assert rows["shop"]["packages"] == 3 and rows["shop"]["ecosystem"] == "PyPI"
    assert rows["shop"]["notes"][0] == "no npm package in the SBOM: not assessed"
    code, out, _ = run(capsys, "scan", "-i", str(inventory), "--stored", "--select", "here")
    assert code == 0 and "here" in out and "local" in out and "shop" not in out
    assert "1 scan(s) ok, 0 failed" in out


def test_a_failed_scan_exits_1_and_is_stored(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path], tmp_path: Path
) -> None:
    inventory, _ = files
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, out, _ = run(
        capsys, "scan", "-i", str(inventory), "--select", "shop", "--sbom", f"shop={broken}"
    )
    assert code == 1 and "not JSON" in out and "0 scan(s) ok, 1 failed" in out
    code, out, _ = run(capsys, "scan", "-i", str(inventory), "--stored", "--format", "json")
    assert [r["error"] != "" for r in json.loads(out)] == [True]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sbom", "shop"], "ASSET=FILE"),
        (["--sbom", "nobody=x.json"], "no asset 'nobody'"),
        (["--sbom", "shop=missing.json"], "no such file"),
        (["--select", "db-1"], "nothing to scan"),
        (["--format", "xml"], "table or json"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "scan", "-i", str(files[0]), *args)
    assert code == 2 and message in out + err


def test_no_inventory_at_all_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan")
    assert code == 2 and "no inventory" in err
