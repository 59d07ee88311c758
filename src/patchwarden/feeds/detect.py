"""Which feed a file is, from its first bytes: OSV (JSON or all.zip), KEV, EPSS, or CSAF.

``patchwarden feeds import`` takes any mix of files, so the kind is read from the content
(names lie: ``download.bin``, ``all.zip.1``), with the name only as a tie-breaker.
"""

from __future__ import annotations

from enum import StrEnum

from patchwarden.feeds.archive import ZIP_MAGIC
from patchwarden.feeds.epss import GZIP_MAGIC
from patchwarden.feeds.osv import InvalidRecord

__all__ = ["FeedKind", "detect_kind"]

_HEAD = 8192


class FeedKind(StrEnum):
    """The kinds of feed file patchwarden imports."""

    OSV_JSON = "osv-json"
    OSV_ZIP = "osv-zip"
    KEV_JSON = "kev-json"
    KEV_CSV = "kev-csv"
    EPSS_CSV = "epss-csv"
    CSAF_JSON = "csaf-json"
    CSAF_PROVIDER = "csaf-provider"
    """A CSAF provider's ``provider-metadata.json``: its ROLIE feeds list the documents."""
    CSAF_ROLIE = "csaf-rolie"
    """A ROLIE feed of CSAF documents."""

    @property
    def feed(self) -> str:
        """``osv``, ``kev``, ``epss`` or ``csaf``."""
        return self.value.partition("-")[0]


def detect_kind(name: str, data: bytes) -> FeedKind:
    r"""The kind of a feed file from its content.

    Raises:
        InvalidRecord: the content is none of the known kinds; the message names ``name``.

    Example:
        >>> detect_kind("x", b'{"id": "GHSA-1", "modified": "2024-01-01T00:00:00Z"}')
        <FeedKind.OSV_JSON: 'osv-json'>
        >>> detect_kind("x", b"#model_version:v1,score_date:2025-01-01T00:00:00Z\ncve,epss")
        <FeedKind.EPSS_CSV: 'epss-csv'>
        >>> detect_kind("x", b'{"document": {"csaf_version": "2.0"}}')
        <FeedKind.CSAF_JSON: 'csaf-json'>
    """
    if data.startswith(ZIP_MAGIC):
        return FeedKind.OSV_ZIP
    if data.startswith(GZIP_MAGIC):
        return FeedKind.EPSS_CSV  # FIRST publishes EPSS gzipped; nothing else we read is
    head = data[:_HEAD].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if head.startswith("{"):
        if '"catalogVersion"' in head and '"vulnerabilities"' in head:
            return FeedKind.KEV_JSON
        if '"csaf_version"' in head:
            return FeedKind.CSAF_JSON
        if '"metadata_version"' in head and '"canonical_url"' in head:
            return FeedKind.CSAF_PROVIDER
        if '"feed"' in head and '"entry"' in head:
            return FeedKind.CSAF_ROLIE
        return FeedKind.OSV_JSON
    if head.startswith("["):
        return FeedKind.OSV_JSON
    first = head.partition("\n")[0].strip().lower()
    if first.startswith("#model_version") or first.startswith("cve,epss"):
        return FeedKind.EPSS_CSV
    if first.startswith("cveid,"):
        return FeedKind.KEV_CSV
    raise InvalidRecord(
        f"{name}: not a feed patchwarden knows (OSV JSON or all.zip, CISA KEV JSON or CSV, "
        "FIRST EPSS CSV or csv.gz, CSAF 2.0 JSON or a CSAF provider-metadata.json)"
    )
