"""The report of the latest stored assessment, as ``patchwarden report`` and the API make it.

The latest assessment is compared with the one before it (or itself, when it is the
first); the latest campaign run is included when it happened between the two.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from patchwarden.errors import UsageError
from patchwarden.report.model import ReportData
from patchwarden.service.assessments import history, latest_pair, load_run, stored_inventory
from patchwarden.service.feeds import stored_advisories
from patchwarden.service.policy import read_baselines
from patchwarden.service.reporting import build_report
from patchwarden.store import Store

__all__ = ["stored_report"]


def stored_report(
    store: Store, title: str, now: datetime, baselines: Path | None = None
) -> ReportData:
    """The report model of the latest stored assessment (render it as HTML, CSV or JSON).

    Raises:
        UsageError: no assessment or no inventory stored yet.
        ValidationFailed: a bad baselines file.
    """
    sets = read_baselines(baselines)
    previous, latest = latest_pair(store)
    if latest is None:
        raise UsageError("no assessment stored yet; run `patchwarden assess` first")
    inventory = stored_inventory(store)
    if inventory is None:
        raise UsageError("no inventory stored; run `patchwarden assess` first")
    advisories = {a.id: a for a in stored_advisories(store)}
    trace = load_run(store)
    snaps = history(store)
    before = previous or latest
    # A run belongs to this report when it happened between the two assessments.
    if trace is not None and trace.times:
        started = trace.times[0]
        if not before.assessment.at <= started <= latest.assessment.at:
            trace = None
    return build_report(
        title,
        f"assessment #{latest.id}" + (f" compared with #{previous.id}" if previous else ""),
        now,
        before.applied_to(inventory),
        advisories,
        before.assessment,
        latest.assessment,
        trace,
        after_inventory=latest.applied_to(inventory),
        baselines=sets,
        history=snaps,
    )
