"""OSV records (https://ossf.github.io/osv-schema/) into :class:`Advisory` values.

Severity comes from the record's CVSS vectors scored by the ``cvss`` library (never a
hand-written formula); where a record has no vector, from the ``severity`` word that
distributions put in ``database_specific`` or ``ecosystem_specific``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError
from pydantic import ValidationError

from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent, Severity
from patchwarden.errors import InputError

__all__ = ["InvalidRecord", "parse_osv", "score_cvss"]

_WORDS = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "none": Severity.NONE,
}


class InvalidRecord(InputError):
    """An OSV record that cannot be used; the message says which and why."""


def score_cvss(vector: str) -> tuple[float, Severity]:
    """Base score and severity of a CVSS v2, v3.x or v4 vector.

    Example:
        >>> score_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
        (9.8, <Severity.CRITICAL: 'critical'>)
    """
    if vector.startswith("CVSS:4"):
        v4 = CVSS4(vector)
        return float(v4.base_score), _WORDS.get(str(v4.severity).lower(), Severity.MEDIUM)
    if vector.startswith("CVSS:3"):
        v3 = CVSS3(vector)
        return float(v3.base_score), _WORDS.get(v3.severities()[0].lower(), Severity.MEDIUM)
    v2 = CVSS2(vector)
    score = float(v2.base_score)
    band = Severity.HIGH if score >= 7 else Severity.MEDIUM if score >= 4 else Severity.LOW
    return score, band


def parse_osv(record: Mapping[str, Any]) -> Advisory:
    """Turn one OSV JSON object into an advisory; raises :class:`InvalidRecord`."""
    ident = record.get("id")
    if not isinstance(ident, str) or not ident:
        raise InvalidRecord("OSV record without an 'id'")
    try:
        return _parse(ident, record)
    except (KeyError, TypeError, ValueError, ValidationError, CVSSError) as error:
        raise InvalidRecord(f"OSV record {ident}: {_why(error)}") from error


def _why(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error)


def _parse(ident: str, record: Mapping[str, Any]) -> Advisory:
    vector, score, severity = _severity(record)
    affected = tuple(_affected(a) for a in record.get("affected", ()))
    specific = record.get("database_specific") or {}
    return Advisory(
        id=ident,
        aliases=tuple(record.get("aliases", ())),
        summary=str(record.get("summary") or record.get("details", "")[:200]),
        published=_time(record.get("published")),
        modified=_time(record["modified"]) or datetime.fromtimestamp(0),
        withdrawn=_time(record.get("withdrawn")),
        severity=severity,
        cvss_vector=vector,
        cvss_score=score,
        classification=specific.get("classification", "security"),
        reboot_required=bool(specific.get("reboot_required", False)),
        affected=affected,
    )


def _severity(record: Mapping[str, Any]) -> tuple[str, float | None, Severity]:
    best: tuple[str, float | None, Severity] | None = None
    # Prefer the newest CVSS version the record carries: v4, then v3, then v2.
    order = {"CVSS_V4": 0, "CVSS_V3": 1, "CVSS_V2": 2}
    entries = [s for s in record.get("severity", ()) if s.get("type") in order]
    for entry in sorted(entries, key=lambda s: order[s["type"]]):
        score, severity = score_cvss(entry["score"])
        best = (entry["score"], score, severity)
        break
    if best is not None:
        return best
    words = [record.get("database_specific", {}).get("severity")]
    for affected in record.get("affected", ()):
        for key in ("database_specific", "ecosystem_specific"):
            block = affected.get(key) or {}
            words.append(block.get("severity") or block.get("urgency"))
    for word in words:
        if isinstance(word, str) and word.lower() in _WORDS:
            return "", None, _WORDS[word.lower()]
    return "", None, Severity.MEDIUM


def _affected(raw: Mapping[str, Any]) -> Affected:
    package = raw["package"]
    return Affected(
        ecosystem=package["ecosystem"],
        package=package["name"],
        ranges=tuple(
            Range(type=r["type"], events=tuple(RangeEvent(**e) for e in r.get("events", ())))
            for r in raw.get("ranges", ())
        ),
        versions=tuple(raw.get("versions", ())),
    )


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
