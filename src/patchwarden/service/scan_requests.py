"""A scan asked for on the server: which hosts, then scanning them as ``patchwarden scan`` does.

:func:`prepare_scan` decides, before anything is started, what a request would scan: the
inventory (the server's inventory files, else the stored one), the assets its ``select``
expressions choose (as ``scan --select`` takes them) that have an ``ssh`` or ``local``
connection, and that every one of them is in the caller's environments. A bad expression
or an empty choice is refused there, so a request that answers 202 has work to do.

:func:`carry_out_scan` then scans them (over SSH with strict host keys, or locally),
stores every scan (failed ones too) with its audit entry, and optionally assesses the
estate with the new scans, as a scheduled scan does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.errors import UsageError
from patchwarden.service.assessing import assess_estate
from patchwarden.service.audit import Actor
from patchwarden.service.identity import OutsideGrant
from patchwarden.service.inputs import choose_inventory
from patchwarden.service.policy import default_policy
from patchwarden.service.scan import (
    HostScan,
    age_text,
    host_transport,
    record_scans,
    scan_assets,
    stale,
)
from patchwarden.service.selection import select_assets
from patchwarden.store import Store

__all__ = ["PreparedScan", "carry_out_scan", "prepare_scan", "scan_row"]

_REACHABLE = ("ssh", "local")


@dataclass(frozen=True)
class PreparedScan:
    """What a scan request will scan, and the inventory that says how to reach it."""

    inventory: Inventory
    assets: tuple[AssetBase, ...]
    inventory_files: tuple[str, ...]

    @property
    def environments(self) -> list[str]:
        """The environments of the assets to scan, sorted."""
        return sorted({a.env for a in self.assets})


def prepare_scan(
    store: Store,
    select: Sequence[str],
    *,
    inventory_files: Sequence[str] = (),
    environments: Sequence[str] = (),
    actor_name: str = "",
) -> PreparedScan:
    """Choose the assets a request scans; refuse before anything starts.

    Raises:
        UsageError: no inventory, a bad ``select`` expression, or no chosen asset with an
            ``ssh`` or ``local`` connection.
        ValidationFailed: bad inventory files.
        OutsideGrant: a chosen asset is outside ``environments`` (empty: all).
    """
    inventory = choose_inventory(store, inventory_files, own_estate=True).inventory
    chosen = [
        a
        for a in select_assets(inventory, select, "select")
        if a.connection is not None and a.connection.transport in _REACHABLE
    ]
    if not chosen:
        raise UsageError(
            "nothing to scan: no selected asset has an ssh or local connection "
            "(check `select` against the inventory)"
        )
    outside = sorted({a.env for a in chosen if environments and a.env not in environments})
    if outside:
        raise OutsideGrant(
            f"the scan reaches {', '.join(outside)}, where {actor_name or 'the caller'} may "
            "not act; narrow `select` to your environments"
        )
    return PreparedScan(inventory, tuple(chosen), tuple(inventory_files))


def scan_row(scan: HostScan, now: datetime) -> dict[str, Any]:
    """One scan as ``patchwarden scan --format json`` prints it."""
    reboot = {True: "yes", False: "no", None: "unknown"}[scan.reboot_required]
    if scan.source == "sbom":
        reboot = "-"  # an SBOM describes software, not a running machine
    return {
        "asset_id": scan.asset_id,
        "source": scan.source,
        "ok": scan.ok,
        "ecosystem": scan.ecosystem,
        "packages": len(scan.packages),
        "os": scan.os_name,
        "arch": scan.arch,
        "reboot_required": scan.reboot_required,
        "reboot": reboot
        + (f" ({', '.join(scan.reboot_packages)})" if scan.reboot_packages else ""),
        "reboot_packages": list(scan.reboot_packages),
        "scanned_at": scan.at.isoformat(),
        "age_s": int(scan.age(now).total_seconds()),
        "age": age_text(scan.age(now)) + (" (stale)" if stale(scan, now) else ""),
        "stale": stale(scan, now),
        "origin": scan.origin,
        "notes": list(scan.notes),
        "error": scan.error,
    }


def carry_out_scan(
    store: Store,
    prepared: PreparedScan,
    actor: Actor,
    *,
    details: dict[str, Any],
    parallel: int = 10,
    timeout_s: float = 120.0,
    assess: bool = False,
    on_done: Callable[[HostScan], None] | None = None,
) -> dict[str, Any]:
    """Scan the prepared assets, store every scan, assess if asked; a summary as JSON.

    ``details`` go into the audit entries of the scans and the assessment (a request's id).
    One host that fails or times out is a failed scan, stored like the others.
    """

    async def scan() -> list[HostScan]:
        transport = host_transport(prepared.inventory)
        try:
            return await scan_assets(
                prepared.assets, transport, {}, max_parallel=parallel, timeout_s=timeout_s,
                on_done=on_done,
            )  # fmt: skip
        finally:
            await transport.close()

    scans = asyncio.run(scan())
    record_scans(store, scans, actor=actor, details=details)
    assessment = None
    if assess:
        assessed = assess_estate(
            store, [Path(f) for f in prepared.inventory_files], demo=False,
            policy=default_policy(), now=datetime.now(UTC), actor=actor, details=details,
        )  # fmt: skip
        assessment = assessed.recorded
    now = datetime.now(UTC)
    return {
        "scanned": [s.asset_id for s in scans if s.ok],
        "failed": [s.asset_id for s in scans if not s.ok],
        "assessment": assessment,
        "scans": [scan_row(s, now) for s in scans],
    }
