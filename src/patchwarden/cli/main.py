"""Entry point of the ``patchwarden`` command.

Exit codes: 0 ok, 1 the work failed (for example a campaign stopped), 2 bad input.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from patchwarden import __version__
from patchwarden.errors import InputError, PatchwardenError, ValidationFailed

__all__ = ["app", "main"]

app = typer.Typer(
    name="patchwarden",
    help="Self-hosted patch management: what is exposed, what first, and a safe rollout.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_err = Console(stderr=True, highlight=False, soft_wrap=True)

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


def _register() -> None:
    # Sub-commands live in their own modules; importing them here keeps start-up explicit.
    from patchwarden.cli import demo, inventory  # noqa: PLC0415 - registration order matters

    app.add_typer(inventory.app, name="inventory")
    demo.register(app)
    # sub-command registrations: keep one line per module below
    from patchwarden.cli import version  # noqa: PLC0415

    app.add_typer(version.app, name="version")
    from patchwarden.cli import feeds  # noqa: PLC0415

    app.add_typer(feeds.app, name="feeds")
    from patchwarden.cli import advisories  # noqa: PLC0415

    app.add_typer(advisories.app, name="advisories")
    from patchwarden.cli import lab  # noqa: PLC0415

    app.add_typer(lab.app, name="lab")

    from patchwarden.cli import change, plan, promote  # noqa: PLC0415

    plan.register(app)
    app.add_typer(change.app, name="change")
    promote.register(app)
    from patchwarden.cli import run  # noqa: PLC0415

    run.register(app)
    from patchwarden.cli import assess, baseline, report  # noqa: PLC0415

    app.add_typer(assess.app, name="assess")
    app.add_typer(baseline.app, name="baseline")
    report.register(app)
    from patchwarden.cli import scan  # noqa: PLC0415

    app.add_typer(scan.app, name="scan")


def report_error(error: PatchwardenError) -> int:
    """Print an error for a person, one line per problem; return the exit code."""
    if isinstance(error, ValidationFailed):
        for problem in error.problems:
            _err.print(f"error: {problem}", markup=False)
        _err.print(f"{len(error.problems)} problem(s); nothing was changed.", markup=False)
    else:
        _err.print(f"error: {error}", markup=False)
    return error.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and, as a script, exits with) the exit code."""
    _register()
    try:
        result = app(args=argv, standalone_mode=False)
    except PatchwardenError as error:
        return _exit(report_error(error), argv)
    except typer.Exit as done:
        return _exit(done.exit_code, argv)
    except typer.Abort:
        _err.print("aborted")
        return _exit(130, argv)
    except _CLICK_ERROR as error:  # usage errors: a missing argument, a bad option value
        error.show()  # type: ignore[attr-defined]  # ClickException, found at import time above
        return _exit(InputError.exit_code, argv)
    # click returns the exit code of a typer.Exit instead of raising it when not standalone
    return _exit(result if isinstance(result, int) else 0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code
