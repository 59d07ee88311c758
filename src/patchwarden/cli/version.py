"""``patchwarden version``: compare package versions exactly as each ecosystem's tool does."""

from __future__ import annotations

import sys

import typer

from patchwarden.errors import UsageError
from patchwarden.service.versions import ECOSYSTEMS, compare_lines, version_ranker

__all__ = ["app"]

app = typer.Typer(
    help="Compare package versions exactly as dpkg, rpm, apk, SemVer, Go and PEP 440 do.",
    no_args_is_help=True,
    add_completion=False,
)

_ECOSYSTEM_HELP = (
    f"One of {', '.join(ECOSYSTEMS)}, or an OSV ecosystem name such as Debian:12, "
    "Ubuntu:22.04:LTS, Red Hat, Alpine:v3.18, npm, crates.io, Go or PyPI."
)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  patchwarden version compare deb 1.0 1.0~rc1                     # prints 1\n"
        "  patchwarden version compare 'Rocky Linux:9' 1:2.0-1.el9 3.0-1   # prints 1\n"
        "  printf '1.0\\t1.0~rc1\\n' | patchwarden version compare Debian:12 --pairs -"
    )
)
def compare(
    ecosystem: str = typer.Argument(
        ..., metavar="ECOSYSTEM", help=_ECOSYSTEM_HELP, show_default=False
    ),
    a: str | None = typer.Argument(None, metavar="A", help="First version.", show_default=False),
    b: str | None = typer.Argument(None, metavar="B", help="Second version.", show_default=False),
    pairs: str | None = typer.Option(
        None,
        "--pairs",
        metavar="FILE",
        help="Compare the 'A<TAB>B' lines of FILE ('-' for standard input), one answer a line.",
        show_default=False,
    ),
) -> None:
    """Print -1, 0 or 1 as version A is older than, equal to, or newer than B.

    With --pairs, an invalid line prints 'error: <reason>' instead, and the exit code is 2.
    """
    ranker = version_ranker(ecosystem)  # rejects an unknown ecosystem first, with the list
    if pairs is None:
        if a is None or b is None:
            raise UsageError("give two versions A and B, or --pairs FILE")
        typer.echo(ranker.compare(a, b))
        return
    if a is not None or b is not None:
        raise UsageError("give either two versions or --pairs FILE, not both")
    answers, errors = compare_lines(ranker, _read_lines(pairs))
    if answers:
        typer.echo("\n".join(answers))
    if errors:
        typer.echo(f"{errors} line(s) had errors", err=True)
        raise typer.Exit(code=2)


def _read_lines(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except OSError as error:
        raise UsageError(f"cannot read --pairs file {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise UsageError(f"--pairs file {path} is not UTF-8: {error.reason}") from error
