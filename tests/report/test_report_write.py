from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchwarden.errors import UsageError
from patchwarden.report import FORMATS, render_csv, render_html, write_report
from patchwarden.report.model import ReportData


def test_writes_html_by_default(sample: ReportData, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "dir"
    written = write_report(sample, out)
    assert written == {"html": out / "report.html"}
    assert written["html"].read_text(encoding="utf-8") == render_html(sample)
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]


def test_writes_every_format_asked(sample: ReportData, tmp_path: Path) -> None:
    written = write_report(sample, tmp_path, formats=("html", "csv", "json", "csv"))
    assert set(written) == set(FORMATS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.csv",
        "report.html",
        "report.json",
    ]
    # Bytes, not text mode: the CSV keeps its CRLF line ends.
    assert written["csv"].read_bytes() == render_csv(sample).encode("utf-8")
    assert json.loads(written["json"].read_text(encoding="utf-8"))["summary"]["assets"] == 20


def test_replaces_an_existing_report(sample: ReportData, empty: ReportData, tmp_path: Path) -> None:
    write_report(empty, tmp_path)
    write_report(sample, tmp_path)
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == render_html(sample)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_unknown_format_writes_nothing(sample: ReportData, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'pdf'"):
        write_report(sample, tmp_path / "out", formats=("html", "pdf"))
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_no_temp_file(
    sample: ReportData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("patchwarden.report.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_report(sample, tmp_path)
    assert list(tmp_path.iterdir()) == []
