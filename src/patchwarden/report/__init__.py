"""Reports: a campaign's outcome as one offline HTML page, a CSV sheet and JSON.

The layer renders a :class:`~patchwarden.report.model.ReportData` (the model, in
:mod:`patchwarden.report.model`) that the service layer fills in; it computes nothing about
the estate itself. :func:`write_report` is its one function that does I/O.

Example:
    >>> from patchwarden.report.sample import sample_report
    >>> "<svg" in render_html(sample_report())
    True
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from patchwarden.errors import UsageError
from patchwarden.report.html import narrative, render_html
from patchwarden.report.model import ReportData
from patchwarden.report.tabular import CSV_COLUMNS, render_csv, render_json

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "narrative",
    "render_csv",
    "render_html",
    "render_json",
    "write_report",
]

_RENDERERS: dict[str, Callable[[ReportData], str]] = {
    "html": render_html,
    "csv": render_csv,
    "json": render_json,
}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)
"""The formats :func:`write_report` knows, each written to ``report.<format>``."""


def _write_atomically(path: Path, text: str) -> None:
    # Write beside the target, then rename over it: a reader (or a crash) never sees half a
    # report. Bytes, not text mode, so the CSV's CRLF line ends are kept on every platform;
    # os.open with 0o666 lets the umask decide permissions, as for any ordinary file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report(
    data: ReportData, out_dir: Path, formats: Iterable[str] = ("html",)
) -> dict[str, Path]:
    """Write the report into ``out_dir`` as ``report.html``, ``report.csv``, ``report.json``.

    Every format is rendered before any file is written, so a rendering error leaves the
    directory as it was. Each file is replaced atomically.

    Args:
        data: The report.
        out_dir: Directory to write into; created if missing.
        formats: Any of :data:`FORMATS`.

    Returns:
        The path written, by format.

    Raises:
        UsageError: A format is not one of :data:`FORMATS`.
        OSError: The directory or a file could not be written.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in _RENDERERS]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise UsageError(f"unknown report format {names}; choose from {', '.join(FORMATS)}")
    texts = {fmt: _RENDERERS[fmt](data) for fmt in wanted}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for fmt, text in texts.items():
        path = out_dir / f"report.{fmt}"
        _write_atomically(path, text)
        written[fmt] = path
    return written
