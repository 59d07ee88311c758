"""CVSS vectors scored by the ``cvss`` library, and the severity words feeds use.

Scores always come from the ``cvss`` library (FIRST's formulas, maintained upstream),
never from a hand-written formula here.
"""

from __future__ import annotations

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from patchwarden.domain.advisories import Severity

__all__ = [
    "SEVERITY_WORDS",
    "CVSSError",
    "score_cvss",
    "severity_word",
]

SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.LOW,
    "unimportant": Severity.LOW,
    "none": Severity.NONE,
}
"""Severity words of distributions and GHSA (lower case) and the band each means."""


def severity_word(word: object) -> Severity | None:
    """The severity a feed's word names (``"Important"``, ``"MODERATE"``), or ``None``.

    Example:
        >>> severity_word("MODERATE"), severity_word("untriaged")
        (<Severity.MEDIUM: 'medium'>, None)
    """
    if not isinstance(word, str):
        return None
    return SEVERITY_WORDS.get(word.strip().lower())


def score_cvss(vector: str) -> tuple[float, Severity]:
    """Base score and severity of a CVSS v2, v3.x or v4 vector.

    Raises:
        CVSSError: the vector is malformed; the message says which metric.

    Example:
        >>> score_cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
        (9.8, <Severity.CRITICAL: 'critical'>)
        >>> score_cvss("AV:N/AC:L/Au:N/C:P/I:P/A:P")
        (7.5, <Severity.HIGH: 'high'>)
    """
    if vector.startswith("CVSS:4"):
        v4 = CVSS4(vector)
        return float(v4.base_score), SEVERITY_WORDS[str(v4.severity).lower()]
    if vector.startswith("CVSS:3"):
        v3 = CVSS3(vector)
        return float(v3.base_score), SEVERITY_WORDS[v3.severities()[0].lower()]
    v2 = CVSS2(vector)
    score = float(v2.base_score)
    # CVSS v2 names no bands itself; these are NVD's (low < 4.0 <= medium < 7.0 <= high).
    band = Severity.HIGH if score >= 7 else Severity.MEDIUM if score >= 4 else Severity.LOW
    return score, band
