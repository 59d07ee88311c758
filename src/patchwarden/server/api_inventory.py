"""``/api/v1/inventory``: upload inventory files (validated), list assets, show one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.inventories import list_assets, upload_inventory

__all__ = ["router"]

router = APIRouter(prefix="/inventory", tags=["inventory"])

_MAX_UPLOAD = 8 * 1024 * 1024


@router.post("", **guarded(Role.OPERATOR))
async def upload(
    request: Request, files: list[UploadFile], found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Replace the stored inventory with these YAML files (multipart field ``files``).

    They are validated as ``patchwarden inventory validate`` does; any problem refuses the
    whole upload with 422 and every problem as ``{file, line, field, message, hint}``.
    An operator limited to some environments cannot upload (the inventory is one snapshot).
    """
    if found.grant.environments:
        raise HTTPException(
            403, "an inventory covers every environment; ask an unrestricted operator"
        )
    texts = []
    for file in files:
        raw = await file.read(_MAX_UPLOAD + 1)
        if len(raw) > _MAX_UPLOAD:
            raise HTTPException(413, f"{file.filename}: larger than {_MAX_UPLOAD} bytes")
        try:
            texts.append((file.filename or "upload.yaml", raw.decode("utf-8")))
        except UnicodeDecodeError as error:
            raise HTTPException(422, f"{file.filename}: not UTF-8 text") from error
    # Validation and the store are synchronous work; keep them off the event loop.
    counts = await run_in_threadpool(upload_inventory, store_of(request), texts, found.actor)
    return counts._asdict()


@router.get("/assets", **guarded(Role.VIEWER))
def assets(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    env: str | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Stored assets (those of the caller's environments), optionally of one env or kind."""
    rows = list_assets(store_of(request), environments=found.grant.environments, env=env, kind=kind)
    return [{k: v for k, v in asdict(r).items() if k != "data"} for r in rows]


@router.get("/assets/{asset_id}", **guarded(Role.VIEWER))
def asset(
    asset_id: str, request: Request, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """One asset in full, with its owner (provider or customer) and where it was defined."""
    rows = list_assets(store_of(request), environments=found.grant.environments)
    for row in rows:
        if row.id == asset_id:
            return asdict(row)
    raise HTTPException(404, f"no asset {asset_id!r}")
