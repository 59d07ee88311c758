"""Dashboard pages of the estate: assets with their drill-down, and a plan as a runbook.

Read-only pages for every logged-in user, limited to the environments of the user's
grant (an asset or a plan outside them is a 404, as if it did not exist).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from patchwarden.server.auth import session_caller, store_of
from patchwarden.server.pages import login_redirect, now, render, visible
from patchwarden.service.asset_views import asset_detail
from patchwarden.service.inventories import list_assets
from patchwarden.service.replay import stored_plan

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/assets")
def assets(
    request: Request,
    env: Annotated[str, Query(max_length=64)] = "",
    kind: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The stored inventory's assets, with environment, kind and owner; each links on."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    rows = list_assets(
        store_of(request), environments=found.grant.environments, env=env or None,
        kind=kind or None,
    )  # fmt: skip
    return render(request, "assets.html", found, assets=rows, filters={"env": env, "kind": kind})


@router.get("/assets/{asset_id}")
def asset(asset_id: str, request: Request) -> Response:
    """One asset: owner, environment, packages, its open findings, the runs that touched it."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    detail = asset_detail(store_of(request), asset_id, now(), found.grant.environments)
    if detail is None:
        raise HTTPException(404, f"no asset {asset_id!r}")
    return render(request, "asset.html", found, d=detail)


@router.get("/plans/{plan_hash}")
def plan(plan_hash: str, request: Request) -> Response:
    """A stored plan as a runbook: windows, then each wave's batches, units and steps."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    store = store_of(request)
    if len(plan_hash) != 64 or store.get_plan(plan_hash) is None:
        raise HTTPException(404, f"no plan {plan_hash[:12]}")
    shown = stored_plan(store, plan_hash, f"plan {plan_hash[:12]}")
    if not visible(found, shown.environments):
        raise HTTPException(404, f"no plan {plan_hash[:12]}")
    changes = [c for c in store.changes() if c.plan_hash == plan_hash]
    return render(request, "plan.html", found, plan=shown, plan_hash=plan_hash, changes=changes)
