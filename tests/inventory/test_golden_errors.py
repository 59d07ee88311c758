"""Broken inventory files in, exact messages out: every problem names file, line and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.errors import ValidationFailed
from patchwarden.service.sources import read_inventory

CASES = Path(__file__).parent.parent / "golden" / "inventory"


def _cases() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml"))


@pytest.mark.parametrize("case", _cases())
def test_broken_file_gives_exact_messages(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES)  # messages name the file as given on the command line
    expected = (CASES / f"{case}.expected").read_text().splitlines()
    with pytest.raises(ValidationFailed) as caught:
        read_inventory([f"{case}.yaml"])
    assert str(caught.value).splitlines() == expected


@pytest.mark.parametrize("case", _cases())
def test_cli_validate_exits_2_and_writes_nothing(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(CASES)
    db = tmp_path / "patchwarden.db"
    code = main(["inventory", "validate", f"{case}.yaml"])
    err = capsys.readouterr().err
    assert code == 2
    for line in (CASES / f"{case}.expected").read_text().splitlines():
        assert f"error: {line}" in err
    assert "nothing was changed" in err
    assert not db.exists()
    assert not (tmp_path / "xdg-data").exists()
    assert os.environ["PATCHWARDEN_DB"].endswith("patchwarden.db")


def test_problems_from_several_files_are_all_reported(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("assets:\n  - {id: web-01, kind: vm, env: prod, hypervisor: hv-01}\n")
    b.write_text(
        "assets:\n  - {id: web-01, kind: vm, env: qa}\n  - {id: x, kind: vm, env: nowhere}\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        read_inventory([a, b])
    text = str(caught.value)
    assert f"{b}:2: assets[0].id: duplicate id 'web-01' (first defined at {a}:2)" in text
    assert f"{b}:3: assets[1].env: unknown environment 'nowhere'" in text
    assert f"{a}:2: assets[0].hypervisor: refers to unknown asset 'hv-01'" in text


def test_files_merge_and_references_cross_files(tmp_path: Path) -> None:
    a = tmp_path / "hv.yaml"
    b = tmp_path / "vm.yaml"
    a.write_text(
        "assets:\n  - {id: hv-01, kind: hypervisor, env: prod, capacity: {vcpus: 8, memory_gb: 32}}\n"
    )
    b.write_text("assets:\n  - {id: web-01, kind: vm, env: prod, hypervisor: hv-01}\n")
    loaded = read_inventory([a, b])
    assert [x.id for x in loaded.inventory.assets] == ["hv-01", "web-01"]
    assert loaded.source_of("web-01") == f"{b}:2"


def test_environment_orders_must_agree(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("environments: [dev, prod]\nassets: []\n")
    b.write_text("environments: [dev, qa, prod]\nassets: []\n")
    with pytest.raises(ValidationFailed, match="differs from"):
        read_inventory([a, b])


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="cannot read"):
        read_inventory([tmp_path / "missing.yaml"])


def test_validate_ok_prints_one_line_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "inv.yaml"
    f.write_text(
        "assets:\n"
        "  - {id: hv-01, kind: hypervisor, env: prod, capacity: {vcpus: 8, memory_gb: 32}}\n"
        "  - {id: web-01, kind: vm, env: prod, hypervisor: hv-01}\n"
    )
    assert main(["inventory", "validate", str(f)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["ok: 2 assets in 1 file(s) across 4 environments (1 hypervisor, 1 vm)"]
