"""FIRST EPSS scores: the daily CSV, plain or gzip, with its ``#model_version`` line.

The file starts with a comment such as
``#model_version:v2026.06.15,score_date:2026-09-29T12:00:22Z`` (older models wrote the
offset as ``+0000``), then the header ``cve,epss,percentile``, then one row per CVE.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime

from patchwarden.domain.advisories import Advisory
from patchwarden.feeds.osv import InvalidRecord

__all__ = [
    "GZIP_MAGIC",
    "EpssScores",
    "mark_epss",
    "parse_epss",
]

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of every gzip stream."""


@dataclass(frozen=True)
class EpssScores:
    """One day's EPSS scores: ``cve -> (probability, percentile)``, both in [0, 1]."""

    model_version: str
    score_date: datetime | None
    scores: dict[str, tuple[float, float]]


def _score_date(text: str, line: int) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = f"{value[:-2]}:{value[-2:]}"  # "+0000" -> "+00:00" for fromisoformat
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"EPSS line {line}: score_date is not a time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(text: str, line: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRecord(f"EPSS line {line}: {field} is not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidRecord(f"EPSS line {line}: {field} {value} is outside [0, 1]")
    return value


def parse_epss(data: bytes | str, warnings: list[str] | None = None) -> EpssScores:
    r"""Parse an EPSS CSV given as text, bytes, or gzip-compressed bytes.

    Args:
        data: The file's content.
        warnings: Where to append one line per skipped row; ``None`` raises instead.

    Raises:
        InvalidRecord: not an EPSS file (no ``cve,epss`` header), or a bad row when
            ``warnings`` is None; the message names the line and field.

    Example:
        >>> s = parse_epss("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00Z\n"
        ...                "cve,epss,percentile\nCVE-1999-0001,0.0335,0.88\n")
        >>> s.model_version, s.scores["CVE-1999-0001"]
        ('v2025.03.14', (0.0335, 0.88))
    """
    if isinstance(data, bytes):
        if data.startswith(GZIP_MAGIC):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise InvalidRecord(f"EPSS file: broken gzip data ({error})") from None
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InvalidRecord(f"EPSS file: not UTF-8 text ({error.reason})") from None
    model_version, score_date = "", None
    scores: dict[str, tuple[float, float]] = {}
    header_seen = False
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            for part in line[1:].split(","):
                key, _, value = part.partition(":")
                if key.strip() == "model_version":
                    model_version = value.strip()
                elif key.strip() == "score_date":
                    score_date = _score_date(value, number)
            continue
        cells = [c.strip() for c in line.split(",")]
        if not header_seen:
            if cells[:2] != ["cve", "epss"]:
                raise InvalidRecord(f"EPSS line {number}: expected header 'cve,epss,percentile'")
            header_seen = True
            continue
        try:
            if len(cells) < 3 or not cells[0].startswith("CVE-"):
                raise InvalidRecord(f"EPSS line {number}: expected 'CVE-...,epss,percentile'")
            scores[cells[0]] = (
                _number(cells[1], number, "epss"),
                _number(cells[2], number, "percentile"),
            )
        except InvalidRecord as error:
            if warnings is None:
                raise
            warnings.append(f"skipped {error}")
    if not header_seen:
        raise InvalidRecord("EPSS file without the 'cve,epss,percentile' header")
    return EpssScores(model_version, score_date, scores)


def mark_epss(advisory: Advisory, scores: dict[str, tuple[float, float]]) -> Advisory:
    """The advisory with the highest EPSS score among its CVEs (cleared if none is scored)."""
    found = [scores[name] for name in advisory.names if name in scores]
    best = max(found, default=None)
    wanted = (None, None) if best is None else best
    if (advisory.epss, advisory.epss_percentile) == wanted:
        return advisory
    return advisory.model_copy(update={"epss": wanted[0], "epss_percentile": wanted[1]})
