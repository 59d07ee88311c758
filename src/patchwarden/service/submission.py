"""Submit a campaign given as text (an upload to the server) as ``change submit`` does.

The inventory and advisories are chosen by the one rule of ``service.inputs`` with no
files: the stored inventory and catalog (or the demo estate on an empty store), so the
server plans the same plan, with the same hash, as ``patchwarden plan`` on that store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from patchwarden.domain.change import ChangeRecord
from patchwarden.service.campaigns import build_plan, load_campaign
from patchwarden.service.change import draft_change, submit_change
from patchwarden.service.identity import OutsideGrant
from patchwarden.service.inputs import estate_inputs
from patchwarden.store import Store

__all__ = ["submit_campaign"]


def submit_campaign(
    store: Store,
    file_name: str,
    text: str,
    requester: str,
    now: datetime,
    *,
    source: str,
    environments: Sequence[str] = (),
    emergency: bool | None = None,
    title: str = "",
) -> ChangeRecord:
    """Plan a campaign YAML text and submit its change record as ``requester``.

    ``environments`` (empty: all) are those the requester may act in; a plan that reaches
    beyond them is refused before anything is stored.

    Raises:
        ValidationFailed: the campaign has problems (file, line, field).
        OutsideGrant: the plan touches an environment the requester may not act in.
    """
    loaded = load_campaign(file_name, text)
    inputs = estate_inputs(store)
    built = build_plan(loaded, inputs.inventory, inputs.advisories, now)
    touched = sorted({w.env for w in built.plan.waves})
    outside = [env for env in touched if environments and env not in environments]
    if outside:
        raise OutsideGrant(f"the plan touches {', '.join(outside)}, where {requester} may not act")
    a = built.assessment
    draft = draft_change(
        built.plan, built.campaign, built.inventory, a.findings, a.decisions, requester, now,
        emergency=emergency, title=title,
    )  # fmt: skip
    return submit_change(store, built.plan, draft, now, source=source)
