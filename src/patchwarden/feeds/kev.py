"""The CISA Known Exploited Vulnerabilities catalog (JSON or CSV) and marking advisories.

The catalog lists CVEs exploited in the wild, each with the date federal agencies must have
remediated it by (``dueDate``). An advisory is "in KEV" when its id, an alias or an upstream
id is a catalog CVE.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from patchwarden.domain.advisories import Advisory
from patchwarden.feeds.osv import InvalidRecord

__all__ = [
    "KevCatalog",
    "KevEntry",
    "apply_kev",
    "mark_kev",
    "parse_kev",
    "parse_kev_catalog",
    "parse_kev_csv",
]


@dataclass(frozen=True)
class KevEntry:
    """One catalog entry: the CVE and what CISA says about it."""

    cve: str
    date_added: date | None
    due: date | None
    vendor: str = ""
    product: str = ""
    name: str = ""
    ransomware: bool = False


@dataclass(frozen=True)
class KevCatalog:
    """A parsed catalog: its version and entries by CVE id."""

    version: str
    released: str
    entries: dict[str, KevEntry]

    @property
    def due_dates(self) -> dict[str, date | None]:
        """``cveID -> dueDate``, the form :func:`apply_kev` takes."""
        return {cve: entry.due for cve, entry in self.entries.items()}


def _date(value: Any, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidRecord(f"{where}: not a YYYY-MM-DD date: {value!r}") from None


def _entry(raw: Mapping[str, Any], where: str) -> KevEntry:
    cve = raw.get("cveID")
    if not isinstance(cve, str) or not cve.strip():
        raise InvalidRecord(f"{where}: missing 'cveID'")
    cve = cve.strip()
    where = f"KEV entry {cve}"
    return KevEntry(
        cve=cve,
        date_added=_date(raw.get("dateAdded"), f"{where}: dateAdded"),
        due=_date(raw.get("dueDate"), f"{where}: dueDate"),
        vendor=str(raw.get("vendorProject") or ""),
        product=str(raw.get("product") or ""),
        name=str(raw.get("vulnerabilityName") or ""),
        ransomware=str(raw.get("knownRansomwareCampaignUse", "")).lower() == "known",
    )


def _entries(rows: Iterable[tuple[str, Any]], warnings: list[str] | None) -> dict[str, KevEntry]:
    """Entries by CVE, from ``(where, raw entry)`` rows; a bad one raises, or is noted."""
    out: dict[str, KevEntry] = {}
    for where, raw in rows:
        try:
            if not isinstance(raw, Mapping):
                raise InvalidRecord(f"{where}: not an object")
            entry = _entry(raw, where)
        except InvalidRecord as error:
            if warnings is None:
                raise
            warnings.append(f"skipped {error}")
            continue
        out[entry.cve] = entry
    return out


def parse_kev_catalog(catalog: Mapping[str, Any], warnings: list[str] | None = None) -> KevCatalog:
    """Parse the catalog's JSON object; an entry that cannot be read is skipped with a warning.

    Args:
        catalog: The decoded ``known_exploited_vulnerabilities.json``.
        warnings: Where to append one line per skipped entry; ``None`` raises instead.

    Raises:
        InvalidRecord: no ``vulnerabilities`` list, or a bad entry when ``warnings`` is None.
    """
    entries = catalog.get("vulnerabilities") if isinstance(catalog, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidRecord("KEV catalog without a 'vulnerabilities' list")
    rows = ((f"KEV vulnerabilities[{i}]", raw) for i, raw in enumerate(entries))
    return KevCatalog(
        str(catalog.get("catalogVersion", "")),
        str(catalog.get("dateReleased", "")),
        _entries(rows, warnings),
    )


def parse_kev_csv(text: str, warnings: list[str] | None = None) -> KevCatalog:
    """Parse the catalog's CSV form (same columns as the JSON entries).

    Raises:
        InvalidRecord: the header lacks ``cveID``, or a bad row when ``warnings`` is None.
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "cveID" not in reader.fieldnames:
        raise InvalidRecord("KEV CSV without a 'cveID' column in its header")
    # The generator reads line_num as each row comes, so it names that row's line.
    rows = ((f"KEV CSV line {reader.line_num}", row) for row in reader)
    return KevCatalog("", "", _entries(rows, warnings))


def parse_kev(catalog: Mapping[str, Any]) -> dict[str, date | None]:
    """``cveID -> dueDate`` of every catalog entry.

    Example:
        >>> parse_kev({"vulnerabilities": [{"cveID": "CVE-1", "dueDate": "2026-12-01"}]})
        {'CVE-1': datetime.date(2026, 12, 1)}
    """
    return parse_kev_catalog(catalog).due_dates


def apply_kev(advisories: Iterable[Advisory], kev: Mapping[str, date | None]) -> list[Advisory]:
    """Mark advisories whose id, an alias or an upstream id is in the catalog.

    The due date is the earliest of the matching entries'. Advisories not in the catalog
    have their mark cleared, so applying a newer catalog drops entries CISA removed.
    """
    return [mark_kev(advisory, kev) for advisory in advisories]


def mark_kev(advisory: Advisory, kev: Mapping[str, date | None]) -> Advisory:
    """The advisory with ``kev``/``kev_due`` set from the catalog (cleared if absent)."""
    hits = [name for name in advisory.names if name in kev]
    dues = [d for d in (kev[h] for h in hits) if d is not None]
    wanted = (bool(hits), min(dues, default=None))
    if (advisory.kev, advisory.kev_due) == wanted:
        return advisory
    return advisory.model_copy(update={"kev": wanted[0], "kev_due": wanted[1]})
