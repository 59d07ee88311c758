"""Start-up: commands are imported when they run; every command's --help still works."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from patchwarden.cli.main import COMMANDS, load_command, main


def _subcommands(name: str) -> list[list[str]]:
    """``[name]`` and, for a group, ``[name, sub]`` for each of its sub-commands."""
    command = load_command(name)
    subs = getattr(command, "commands", {})
    return [[name], *([name, sub] for sub in subs)]


@pytest.mark.parametrize("argv", [a for n in COMMANDS for a in _subcommands(n)], ids=" ".join)
def test_every_command_and_sub_command_help_works(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and " ".join(argv) in out


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_command_own(name: str) -> None:
    # --help lists COMMANDS without importing them: the table must say what the command says.
    assert load_command(name).get_short_help_str(200) == COMMANDS[name].help


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nonsense"]) == 2
    assert "No such command" in capsys.readouterr().err


PROBE = """
import json, sys
from patchwarden.cli.main import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy"
               or m.startswith(("patchwarden.cli.", "patchwarden.service", "patchwarden.store")))
print(json.dumps({"code": code, "heavy": [m for m in heavy if m != "patchwarden.cli.main"]}))
"""


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_no_command_and_no_database(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    )
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"code": 0, "heavy": []}


def test_a_command_is_loaded_once_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "compare", "deb", "1.0-1", "1.0-2"]) == 0
    assert capsys.readouterr().out.strip() == "-1"
    assert isinstance(load_command("version"), typer.core.TyperGroup)
