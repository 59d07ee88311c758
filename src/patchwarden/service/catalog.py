"""Questions a person asks of the imported advisory catalog, one package version at a time.

``patchwarden advisories affected`` answers with the same matching an assessment uses, so
a surprising finding can be checked by hand against the catalog it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from patchwarden.assess.match import AdvisoryIndex
from patchwarden.feeds.ranges import scheme_of
from patchwarden.service.feeds import stored_advisories
from patchwarden.store import Store

__all__ = ["Affected", "affected_advisories"]


@dataclass(frozen=True)
class Affected:
    """The advisories affecting one package version, and how far the answer can be trusted."""

    ids: tuple[str, ...]
    ordered: bool
    """Whether patchwarden orders this ecosystem's versions; if not, only the advisories'
    explicit ``versions`` lists were used (ranges cannot be evaluated)."""
    warnings: tuple[str, ...] = field(default=())
    """Stored advisories that could not be read and were left out."""


def affected_advisories(store: Store, ecosystem: str, package: str, version: str) -> Affected:
    """Ids of the stored advisories affecting ``package`` at ``version`` in ``ecosystem``.

    ``ecosystem`` is written as OSV writes it, release included (``Debian:12``,
    ``Ubuntu:22.04:LTS``, ``PyPI``).
    """
    warnings: list[str] = []
    advisories = stored_advisories(store, warnings)
    hits = AdvisoryIndex(advisories).lookup(ecosystem, package, version)
    return Affected(
        ids=tuple(advisory.id for advisory, _fixed in hits),
        ordered=bool(scheme_of(ecosystem)),
        warnings=tuple(warnings),
    )
