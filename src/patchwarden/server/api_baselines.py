"""``/api/v1/baselines``: patch baselines, compliance with them, and same-patch-level drift.

What ``patchwarden baseline show|check|drift`` prints, from the same service functions on
the server's store: the shipped baselines, the imported catalog, the stored inventory with
its scans. A caller limited to some environments sees only the assets there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.baseline_views import baselines_shown, compliance, drift_rows, sheet_csv

__all__ = ["router"]

router = APIRouter(prefix="/baselines", tags=["baselines"])


@router.get("", **guarded(Role.VIEWER))
def baselines(
    request: Request, os: Annotated[str | None, Query(max_length=64)] = None
) -> list[dict[str, Any]]:
    """Each baseline's rules and its snapshot now: the patches approved and rejected.

    ``?os=debian`` keeps one OS family's. The catalog is the one imported into the store.
    """
    return baselines_shown(store_of(request), datetime.now(UTC), os_family=os)


@router.get("/compliance", **guarded(Role.VIEWER))
def check(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    env: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    compliant: bool | None = None,
) -> dict[str, Any]:
    """Every asset checked against its baseline, as ``baseline check --format json``.

    Each asset has its baseline, snapshot, whether it complies, and each patch's state
    (installed, installed_other, installed_pending_reboot, installed_rejected, missing,
    failed, not_applicable, provider_responsibility). Filter with ``?env=`` (repeatable)
    and ``?compliant=false``.
    """
    mine = found.grant.environments
    wanted = [e for e in env if not mine or e in mine] if env else list(mine)
    if env and not wanted:
        return {"compliant": 0, "total": 0, "assets": [], "snapshots": []}
    assets, snapshots = compliance(store_of(request), datetime.now(UTC), environments=wanted)
    if compliant is not None:
        assets = [a for a in assets if a["compliant"] is compliant]
    return {
        "compliant": sum(1 for a in assets if a["compliant"]),
        "total": len(assets),
        "assets": assets,
        "snapshots": snapshots,
    }


@router.get("/drift", **guarded(Role.VIEWER), response_model=None)
def drift(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:
    """Who deviates from the patch level of their role, cluster, pool or environment.

    ``format=csv`` is the version-tracking sheet instead (asset × package × version,
    against each baseline's target), as ``baseline drift --csv`` writes it.
    """
    store = store_of(request)
    mine = found.grant.environments
    if format == "csv":
        text, _ = sheet_csv(store, datetime.now(UTC), environments=mine)
        return Response(text, media_type="text/csv; charset=utf-8")
    rows, aligned, groups = drift_rows(store, environments=mine)
    return {"aligned": aligned, "groups": groups, "deviations": rows}
