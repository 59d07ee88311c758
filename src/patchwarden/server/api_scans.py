"""``/api/v1/scans``: scan hosts in the background, follow the scan, read stored scans.

A scan started here is ``patchwarden scan`` on the server: the same selection, the same
transports (SSH with strict host keys from the server's environment, or local), every scan
stored with its audit entry. It reaches real hosts, so it runs in the background
(:mod:`patchwarden.server.tasks`): the answer is 202 with the scan's id, and
``GET /scans/{id}`` shows how many hosts are done until it ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.server.tasks import Progress, Task, board
from patchwarden.service.inventories import list_assets
from patchwarden.service.scan import HostScan, latest_scans
from patchwarden.service.scan_requests import carry_out_scan, prepare_scan, scan_row

__all__ = ["StartScan", "router"]

router = APIRouter(prefix="/scans", tags=["scans"])

KIND = "scan"


class StartScan(BaseModel):
    """Which assets to scan (``select`` as ``scan --select``; none: all), and how."""

    select: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=50)] = []
    parallel: Annotated[int, Field(ge=1, le=100)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    assess: bool = Field(False, description="Assess the estate with the new scans afterwards.")


def _visible(found: Caller, task: Task) -> bool:
    mine = found.grant.environments
    return not mine or any(e in mine for e in task.environments)


@router.post("", **guarded(Role.OPERATOR), status_code=202)
async def start(
    body: StartScan, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Start scanning the chosen hosts; answers 202 with the scan's id once it is accepted.

    The inventory is the one the server was started with (``serve --inventory``), else
    the stored one. A bad ``select``, or no chosen asset with an ``ssh`` or ``local``
    connection, is refused (400) before anything starts; an operator limited to some
    environments may scan only assets there (403). Follow it with ``GET /scans/{id}``.
    """
    store = store_of(request)
    prepared = await run_in_threadpool(
        lambda: prepare_scan(
            store,
            body.select,
            inventory_files=request.app.state.real_inventory,
            environments=found.grant.environments,
            actor_name=found.grant.user,
        )  # fmt: skip
    )
    actor = found.actor

    def work(progress: Progress) -> dict[str, Any]:
        done: list[str] = []
        total = len(prepared.assets)
        progress("scanning", 0, total)

        def one(scan: HostScan) -> None:
            done.append(scan.asset_id)
            progress(f"scanned {scan.asset_id}", len(done), total)

        return carry_out_scan(
            store, prepared, actor, details={"task": progress.task_id}, parallel=body.parallel,
            timeout_s=body.timeout_s, assess=body.assess, on_done=one,
        )  # fmt: skip

    request_json = {**body.model_dump(), "assets": [a.id for a in prepared.assets]}
    task = board(request).start(
        KIND, actor, work, request=request_json, environments=prepared.environments,
        total=len(prepared.assets),
    )  # fmt: skip
    return task.as_json()


@router.get("", **guarded(Role.VIEWER))
def scans(request: Request, found: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
    """Every scan started on the server that the caller may see, oldest first."""
    return [t.as_json() for t in board(request).tasks(KIND) if _visible(found, t)]


@router.get("/stored", **guarded(Role.VIEWER))
def stored(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    asset: Annotated[str | None, Query(max_length=200)] = None,
    failed: bool = Query(False, description="Include the newest failed scans too."),
) -> list[dict[str, Any]]:
    """The newest stored scan of each asset and source (as ``scan --stored``).

    Limited to the assets of the stored inventory in the caller's environments when the
    caller's role is limited to some.
    """
    store = store_of(request)
    mine = found.grant.environments
    allowed = {a.id for a in list_assets(store, environments=mine)} if mine else None
    now = datetime.now(UTC)
    return [
        scan_row(scan, now)
        for asset_id, by_source in sorted(latest_scans(store, ok_only=not failed).items())
        if (asset is None or asset_id == asset) and (allowed is None or asset_id in allowed)
        for scan in by_source.values()
    ]


@router.get("/{scan_id}", **guarded(Role.VIEWER))
def show(
    scan_id: str, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """One scan: running with its progress (hosts done of total), or its outcome.

    A scan the server was stopped in the middle of is ``interrupted``: the hosts it had
    not finished were not stored; start it again.
    """
    task = board(request).get(KIND, scan_id)
    if task is None or not _visible(found, task):
        raise HTTPException(404, f"no scan {scan_id!r}")
    return task.as_json()
