"""Decisions without an assessment: every declared package patched to a given version.

For planner tests, what-if studies and benchmarks, where the question is how a plan is
shaped, not which findings justify it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from patchwarden.domain.advisories import Action, Advisory, Decision
from patchwarden.domain.inventory import Inventory

__all__ = ["Decided", "patch_everything"]

Decided = tuple[list[Decision], dict[str, Advisory], dict[tuple[str, str, str], str]]
"""``(decisions, advisories by id, fixes)``, the planner's inputs besides the campaign."""


def patch_everything(
    inventory: Inventory, targets: Mapping[str, str], now: datetime, advisory_id: str = "SYN-1"
) -> Decided:
    """One ``next_window`` decision per declared package that ``targets`` names.

    Example:
        >>> from datetime import UTC, datetime
        >>> inv = Inventory.model_validate({"assets": [
        ...     {"id": "a", "kind": "vm", "env": "dev", "packages": {"openssl": "1"}}]})
        >>> now = datetime(2026, 1, 1, tzinfo=UTC)
        >>> decisions, _, fixes = patch_everything(inv, {"openssl": "2"}, now)
        >>> decisions[0].package, fixes[("a", "SYN-1", "openssl")]
        ('openssl', '2')
    """
    advisory = Advisory(id=advisory_id, modified=now, severity="high")
    decisions: list[Decision] = []
    fixes: dict[tuple[str, str, str], str] = {}
    for asset in inventory.assets:
        for name in asset.packages:
            if name not in targets:
                continue
            decisions.append(
                Decision(
                    asset_id=asset.id,
                    advisory_id=advisory_id,
                    package=name,
                    action=Action.NEXT_WINDOW,
                    reason="synthetic",
                )
            )
            fixes[(asset.id, advisory_id, name)] = targets[name]
    return decisions, {advisory_id: advisory}, fixes
