"""Entry point of the ``patchwarden`` command.

Exit codes: 0 ok, 1 the work failed (for example a campaign stopped), 2 bad input, 3 the
run is driven by another process (try again later).

Start-up is kept short: a command's module (and what it needs: the store, the engine,
the planners) is imported only when that command runs. ``patchwarden --help`` lists the
commands from :data:`COMMANDS` without importing any of them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from patchwarden import __version__
from patchwarden.errors import InputError, PatchwardenError, ValidationFailed

__all__ = ["COMMANDS", "Command", "app", "load_command", "main"]


@dataclass(frozen=True)
class Command:
    """Where a command lives and its one-line help (shown by ``--help`` without importing it).

    ``module`` either has an ``app`` (a typer app: the command is a group of sub-commands)
    or a ``register(app)`` that adds the command to a typer app.
    """

    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "patchwarden.cli.demo",
        "Run the whole path on a simulated estate and write a report.",
    ),
    "plan": Command(
        "patchwarden.cli.plan",
        "Compile a campaign into a plan: waves, steps, targets, durations, windows.",
    ),
    "promote": Command(
        "patchwarden.cli.promote",
        "Show what may move where: each patch per environment, with the reason when it may not.",
    ),
    "apply": Command(
        "patchwarden.cli.run",
        "Compile (or load) a plan and run it with the engine, journaling every step.",
    ),
    "status": Command(
        "patchwarden.cli.run",
        "Where a run stands: waves, failures, canary verdicts.",
    ),
    "resume": Command(
        "patchwarden.cli.run",
        "Carry on a paused or interrupted run from its journal.",
    ),
    "pause": Command(
        "patchwarden.cli.run",
        "Start no new unit; running ones finish.",
    ),
    "abort": Command(
        "patchwarden.cli.run",
        "Skip everything not started; running units finish or roll back.",
    ),
    "rollback": Command(
        "patchwarden.cli.run",
        "Undo every unit that succeeded, last first.",
    ),
    "findings": Command(
        "patchwarden.cli.findings",
        "Findings of the latest assessment, filtered and paged, here or on a server.",
    ),
    "report": Command(
        "patchwarden.cli.report",
        "Write a report of the latest assessment, compared with the one before it.",
    ),
    "inventory": Command(
        "patchwarden.cli.inventory",
        "Validate, show, import and discover inventories.",
    ),
    "version": Command(
        "patchwarden.cli.version",
        "Compare package versions exactly as dpkg, rpm, apk, SemVer, Go and PEP 440 do.",
    ),
    "feeds": Command(
        "patchwarden.cli.feeds",
        "Import and sync advisory feeds (OSV, CISA KEV, EPSS, CSAF).",
    ),
    "advisories": Command(
        "patchwarden.cli.advisories",
        "Query the imported advisories.",
    ),
    "lab": Command(
        "patchwarden.cli.lab",
        "A lab of real Debian hosts (chroots behind their own sshd) on this machine.",
    ),
    "change": Command(
        "patchwarden.cli.change",
        "Change records: submit a plan for approval, approve or reject it (four eyes), show it.",
    ),
    "assess": Command(
        "patchwarden.cli.assess",
        "Match installed packages against advisories and decide each finding, with a reason.",
    ),
    "baseline": Command(
        "patchwarden.cli.baseline",
        "Patch baselines: approved patches, compliance, same patch level.",
    ),
    "scan": Command(
        "patchwarden.cli.scan",
        "Scan installed packages, OS, architecture and reboot state; store every scan.",
    ),
    "serve": Command(
        "patchwarden.server.command",
        "Serve the API (OpenAPI at /api/openapi.json, routes under /api/v1).",
    ),
    "user": Command(
        "patchwarden.cli.user",
        "Local users of the server: add, change a password, disable, list.",
    ),
    "token": Command(
        "patchwarden.cli.token",
        "API tokens: create (shown once, stored hashed), revoke, list.",
    ),
    "channels": Command(
        "patchwarden.cli.channels",
        "Update channels: find newer application versions and act on each policy.",
    ),
    "storage": Command(
        "patchwarden.cli.storage",
        "Storage accounts: encryption, TLS, public access, redundancy, recovery, lifecycle.",
    ),
    "evidence": Command(
        "patchwarden.cli.evidence",
        "Evidence for auditors: kept in a directory or a storage account, verified.",
    ),
    "worker": Command(
        "patchwarden.cli.worker",
        "Carry out campaign steps from Temporal until stopped (SIGTERM or Ctrl-C).",
    ),
    "db": Command(
        "patchwarden.cli.db",
        "The database: migrate its schema (PostgreSQL or SQLite), or show where it stands.",
    ),
    "audit": Command(
        "patchwarden.cli.audit",
        "The tamper-evident audit trail: verify the hash chain, show entries, export its head.",
    ),
}
"""Every command, in the order ``--help`` lists them."""


def load_command(name: str) -> Any:
    """Import a command's module and return its click command (a group for sub-commands)."""
    module = importlib.import_module(COMMANDS[name].module)
    if hasattr(module, "app"):
        return typer.main.get_group(module.app)
    holder = typer.Typer()
    module.register(holder)
    return typer.main.get_group(holder).commands[name]


class _LazyGroup(TyperGroup):
    """The root group: commands are imported when run, listed from :data:`COMMANDS`."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the help page needs names and one-line help only
            text = COMMANDS[cmd_name].help
            return TyperCommand(name=cmd_name, help=text, short_help=text)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="patchwarden",
    cls=_LazyGroup,
    help="Self-hosted patch management: what is exposed, what first, and a safe rollout.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help for the list of commands: typer's rich help alone imports more than the
    # whole start-up budget allows. Each command's own --help keeps the rich layout.
    rich_markup_mode=None,
)

# Typer ships its own copy of click; find its ClickException through a public class rather
# than importing a private module path that may move.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"patchwarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Self-hosted patch management: what is exposed, what first, and a safe rollout."""


def _print_error(line: str) -> None:
    from rich.console import Console  # noqa: PLC0415 - only an error needs it

    Console(stderr=True, highlight=False, soft_wrap=True).print(line, markup=False)


def report_error(error: PatchwardenError) -> int:
    """Print an error for a person, one line per problem; return the exit code."""
    if isinstance(error, ValidationFailed):
        for problem in error.problems:
            _print_error(f"error: {problem}")
        _print_error(f"{len(error.problems)} problem(s); nothing was changed.")
    else:
        _print_error(f"error: {error}")
    return error.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and, as a script, exits with) the exit code."""
    try:
        result = app(args=argv, standalone_mode=False)
    except PatchwardenError as error:
        return _exit(report_error(error), argv)
    except typer.Exit as done:
        return _exit(done.exit_code, argv)
    except typer.Abort:
        _print_error("aborted")
        return _exit(130, argv)
    except _CLICK_ERROR as error:  # usage errors: a missing argument, a bad option value
        error.show()  # type: ignore[attr-defined]  # ClickException, found at import time above
        return _exit(InputError.exit_code, argv)
    # click returns the exit code of a typer.Exit instead of raising it when not standalone
    return _exit(result if isinstance(result, int) else 0, argv)


# Temporal's client runs threads of its Rust core that may still hold Python's thread
# state when the interpreter finalizes; the process then aborts (SIGABRT, "PyGILState_Release:
# thread state ... must be current") after the command succeeded (temporalio/sdk-python#300).
_TEMPORAL_CORE = "temporalio.bridge.temporal_sdk_bridge"


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        if _TEMPORAL_CORE in sys.modules:
            _exit_now(code)
        sys.exit(code)
    return code


def _exit_now(code: int) -> None:
    """Flush what the command wrote, then end the process without finalizing the interpreter.

    Only for a command that loaded Temporal's core: everything it opened (the store, files)
    was closed by the command itself; what is skipped is the finalization that can abort.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
