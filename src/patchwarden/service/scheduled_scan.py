"""A scheduled scan of a group of assets, and the assessment after it.

A ``scan`` job (:mod:`patchwarden.service.scheduler`) names its group by inventory group
(``group: web``, an Ansible group being a role), by environment (``environment: prod``),
or by ``select`` expressions as ``patchwarden scan --select`` takes them; all of them
must hold. Each occurrence of the job does two steps, each recorded in the audit trail
with the occurrence's name (``job@due-time``):

1. scan the chosen hosts (over SSH or locally, as their inventory ``connection`` says)
   and store every scan (``scan.record``);
2. assess the estate with the new scans and record the assessment (``assessment.record``).

Before each step the trail is read for that occurrence's entry: a server that died after
the first step and before the job was marked done leaves the occurrence to be taken up
again, and the one that takes it up does only what is left. So each occurrence's scan
and assessment are recorded once, even across a restart in the middle of the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from patchwarden.drivers.ssh import SshConfig
from patchwarden.errors import PatchwardenError
from patchwarden.service.assessing import assess_estate
from patchwarden.service.audit import Actor
from patchwarden.service.inputs import choose_inventory
from patchwarden.service.policy import default_policy
from patchwarden.service.scan import HostScan, host_transport, record_scans, scan_assets
from patchwarden.service.selection import select_assets
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter

__all__ = ["ScanGroup", "ScanJobResult", "group_expressions", "occurrence_name", "run_scan_job"]


@dataclass(frozen=True)
class ScanGroup:
    """Which assets a scan job scans, and how."""

    group: str | None = None
    environment: str | None = None
    select: tuple[str, ...] = ()
    assess: bool = True
    timeout_s: float = 120.0
    parallel: int = 10


@dataclass(frozen=True)
class ScanJobResult:
    """What an occurrence did: ids stored now (empty when done before a restart)."""

    scanned: tuple[str, ...]
    failed: tuple[str, ...]
    scans_recorded: bool
    assessment: int | None


def group_expressions(group: ScanGroup) -> list[str]:
    """The group as ``--select`` expressions (every condition must hold).

    Example:
        >>> group_expressions(ScanGroup(group="web", environment="prod"))
        ['env=prod,role=web']
        >>> group_expressions(ScanGroup(environment="qa", select=("id=a-*", "kind=vm")))
        ['env=qa,id=a-*', 'env=qa,kind=vm']
        >>> group_expressions(ScanGroup())
        []
    """
    fixed = []
    if group.environment:
        fixed.append(f"env={group.environment}")
    if group.group:
        fixed.append(f"role={group.group}")
    if not group.select:
        return [",".join(fixed)] if fixed else []
    return [",".join([*fixed, expression]) for expression in group.select]


def occurrence_name(job: str, due: datetime) -> str:
    """The name an occurrence's audit entries carry.

    Example:
        >>> from datetime import UTC
        >>> occurrence_name("scan-prod", datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
        'scan-prod@2026-12-03T02:00:00+00:00'
    """
    return f"{job}@{due.isoformat()}"


def _done(store: Store, action: str, occurrence: str, due: datetime, actor: Actor) -> int | None:
    entries = store.audit.entries(AuditFilter(actor=actor.name, action=action, since=due))
    for entry in entries:
        if entry.details.get("job") == occurrence:
            return int(entry.object_id) if entry.object_id.isdigit() else 0
    return None


def run_scan_job(
    store: Store,
    job: str,
    group: ScanGroup,
    due: datetime,
    *,
    inventory_files: Sequence[str | Path],
    actor: Actor,
    now: datetime,
    ssh: SshConfig | None = None,
) -> ScanJobResult:
    """Scan the group's hosts, store the scans, then assess; skip a step done already.

    ``due`` is the occurrence's due time (it names the occurrence). The inventory is the
    files given, else the stored one.

    Raises:
        PatchwardenError: no inventory, or no asset of the group can be scanned.
        ValidationFailed: bad inventory files.
    """
    occurrence = occurrence_name(job, due)
    scanned: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    recorded = _done(store, "scan.record", occurrence, due, actor) is None
    if recorded:
        inventory = choose_inventory(store, inventory_files, own_estate=True).inventory
        chosen = [
            a
            for a in select_assets(inventory, group_expressions(group), f"job {job}:")
            if a.connection is not None and a.connection.transport in ("ssh", "local")
        ]
        if not chosen:
            raise PatchwardenError(
                f"job {job}: no asset of its group has an ssh or local connection to scan"
            )

        async def scan() -> list[HostScan]:
            transport = host_transport(inventory, ssh)
            try:
                return await scan_assets(
                    chosen, transport, {}, max_parallel=group.parallel, timeout_s=group.timeout_s
                )
            finally:
                await transport.close()

        scans = asyncio.run(scan())
        record_scans(store, scans, actor=actor, details={"job": occurrence})
        scanned = tuple(s.asset_id for s in scans if s.ok)
        failed = tuple(s.asset_id for s in scans if not s.ok)
    assessment = None
    if group.assess and _done(store, "assessment.record", occurrence, due, actor) is None:
        assessed = assess_estate(
            store, [Path(f) for f in inventory_files], demo=False, policy=default_policy(),
            now=now, actor=actor, details={"job": occurrence},
        )  # fmt: skip
        assessment = assessed.recorded
    return ScanJobResult(scanned, failed, recorded, assessment)
