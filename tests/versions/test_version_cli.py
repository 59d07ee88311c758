"""``patchwarden version compare``, through the real entry point."""

from __future__ import annotations

import io

import pytest

from patchwarden.cli.main import main


def test_compare_prints_the_answer(capsys) -> None:
    assert main(["version", "compare", "deb", "1.0", "1.0~rc1"]) == 0
    assert capsys.readouterr().out == "1\n"
    assert main(["version", "compare", "Rocky Linux:9", "1.0-1.el9", "1:0.1-1"]) == 0
    assert capsys.readouterr().out == "-1\n"
    assert main(["version", "compare", "PyPI", "1.0", "1.0.0"]) == 0
    assert capsys.readouterr().out == "0\n"


def test_bad_version_exits_2_with_the_reason(capsys) -> None:
    assert main(["version", "compare", "deb", "a:1.0", "1.0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: epoch must be a number: 'a:1.0'" in captured.err


def test_unknown_ecosystem_exits_2(capsys) -> None:
    assert main(["version", "compare", "Gentoo", "1", "2"]) == 2
    assert "unknown ecosystem 'Gentoo'; known: " in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["deb"], ["deb", "1.0"], ["deb", "1.0", "2.0", "--pairs", "-"]],
)
def test_wrong_arguments_exit_2(args: list[str], capsys) -> None:
    assert main(["version", "compare", *args]) == 2
    assert "error: give " in capsys.readouterr().err


def test_pairs_one_answer_per_line_and_exit_2_on_errors(tmp_path, capsys) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("1.0\t1.0~rc1\n1:0.1\t2.0\na:1\t1\nno tab here\n1.0\t1.00\n", "utf-8")
    assert main(["version", "compare", "Debian:12", "--pairs", str(pairs)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "1",
        "1",
        "error: line 3: epoch must be a number: 'a:1'",
        "error: line 4: expected 'A<TAB>B', got 1 field(s)",
        "0",
    ]
    assert "2 line(s) had errors" in captured.err


def test_pairs_from_stdin(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("1.0_rc1\t1.0\n1.0-r1\t1.0\n"))
    assert main(["version", "compare", "Alpine:v3.18", "--pairs", "-"]) == 0
    assert capsys.readouterr().out == "-1\n1\n"


def test_unreadable_pairs_file_exits_2(tmp_path, capsys) -> None:
    assert main(["version", "compare", "deb", "--pairs", str(tmp_path / "missing")]) == 2
    assert "cannot read --pairs file" in capsys.readouterr().err


def test_help_shows_an_example(capsys) -> None:
    assert main(["version", "compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "patchwarden version compare deb 1.0 1.0~rc1" in out
    assert "--pairs" in out
