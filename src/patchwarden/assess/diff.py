"""What changed between two assessments: new, resolved and still-open findings.

Findings are the same across assessments when asset, advisory and package are the same;
a finding still open keeps its identity even if the installed version moved (a partial
update), and that move is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from patchwarden.domain.advisories import Finding

__all__ = ["AssessmentDiff", "diff_findings"]


@dataclass(frozen=True)
class AssessmentDiff:
    """Findings new in the later assessment, gone from it, and in both."""

    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    still_open: tuple[Finding, ...]
    moved: tuple[tuple[Finding, Finding], ...] = ()
    """Still-open findings whose installed version changed: (before, after)."""

    def counts(self) -> dict[str, int]:
        """How many findings are new, resolved and still open."""
        return {
            "new": len(self.new),
            "resolved": len(self.resolved),
            "still_open": len(self.still_open),
        }


def _key(finding: Finding) -> tuple[str, str, str]:
    return (finding.asset_id, finding.advisory_id, finding.package)


def diff_findings(before: Iterable[Finding], after: Iterable[Finding]) -> AssessmentDiff:
    """Compare the findings of two assessments.

    Example:
        >>> f = Finding(asset_id="a", advisory_id="X", package="p", ecosystem="PyPI",
        ...             installed="1", fixed="2", severity="high")
        >>> diff_findings([f], []).counts()
        {'new': 0, 'resolved': 1, 'still_open': 0}
    """
    old = {_key(f): f for f in before}
    new = {_key(f): f for f in after}
    return AssessmentDiff(
        new=tuple(new[k] for k in sorted(new.keys() - old.keys())),
        resolved=tuple(old[k] for k in sorted(old.keys() - new.keys())),
        still_open=tuple(new[k] for k in sorted(new.keys() & old.keys())),
        moved=tuple(
            (old[k], new[k])
            for k in sorted(new.keys() & old.keys())
            if old[k].installed != new[k].installed
        ),
    )
