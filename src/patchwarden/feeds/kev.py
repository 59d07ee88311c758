"""The CISA Known Exploited Vulnerabilities catalog (JSON) and marking advisories with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from patchwarden.domain.advisories import Advisory
from patchwarden.feeds.osv import InvalidRecord

__all__ = ["apply_kev", "parse_kev"]


def parse_kev(catalog: Mapping[str, Any]) -> dict[str, date | None]:
    """``cveID -> dueDate`` of every catalog entry.

    Example:
        >>> parse_kev({"vulnerabilities": [{"cveID": "CVE-1", "dueDate": "2026-12-01"}]})
        {'CVE-1': datetime.date(2026, 12, 1)}
    """
    entries = catalog.get("vulnerabilities")
    if not isinstance(entries, list):
        raise InvalidRecord("KEV catalog without a 'vulnerabilities' list")
    out: dict[str, date | None] = {}
    for entry in entries:
        cve = entry.get("cveID")
        if not isinstance(cve, str):
            continue
        due = entry.get("dueDate")
        out[cve] = date.fromisoformat(due) if isinstance(due, str) and due else None
    return out


def apply_kev(advisories: Iterable[Advisory], kev: Mapping[str, date | None]) -> list[Advisory]:
    """Mark advisories whose id or an alias is in the catalog, with the catalog's due date."""
    out = []
    for advisory in advisories:
        hits = [name for name in (advisory.id, *advisory.aliases) if name in kev]
        if hits:
            dues = [d for d in (kev[h] for h in hits) if d is not None]
            advisory = advisory.model_copy(update={"kev": True, "kev_due": min(dues, default=None)})
        out.append(advisory)
    return out
