"""``/api/v1/feeds``: import uploaded feed files, sync the feeds, and the catalog's status.

An upload (multipart field ``files``) is imported in the request, as ``patchwarden feeds
import`` does (see :mod:`patchwarden.service.feed_uploads` for why a CSAF provider is
refused there). A sync fetches the server's sources (``serve --feeds-config``, else the
official feeds) in the background, as runs and scans go (202 with its id); only an admin
may name other sources, since a sync makes the server fetch them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.server.tasks import Progress, board
from patchwarden.service.feed_uploads import catalog_status, import_uploads
from patchwarden.service.feeds import sync_feeds

__all__ = ["Sync", "router"]

router = APIRouter(prefix="/feeds", tags=["feeds"])

KIND = "feeds.sync"
_MAX_UPLOAD = 512 * 1024 * 1024
"""An OSV ``all.zip`` of a large distribution is a few hundred MiB."""


_WHOLE_CATALOG = "the catalog serves every environment; ask an unrestricted operator"


class Sync(BaseModel):
    """Sources to fetch instead of the server's (admins only): ``{name: URL}``."""

    sources: Annotated[dict[str, str], Field(max_length=50)] = {}


@router.post("/import", **guarded(Role.OPERATOR))
async def import_files(
    request: Request, files: list[UploadFile], found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """Import feed files (multipart field ``files``) in one transaction; audited.

    The kind of each is read from its content. Bad records are skipped with a warning
    each; a file that is no feed, or a malformed CSAF document, refuses the whole upload
    (400, nothing imported). Re-importing the same files changes nothing. The catalog is
    one for every environment, so an operator limited to some cannot change it.
    """
    if found.grant.environments:
        raise HTTPException(
            403, "the catalog serves every environment; ask an unrestricted operator"
        )
    contents = []
    for file in files:
        raw = await file.read(_MAX_UPLOAD + 1)
        if len(raw) > _MAX_UPLOAD:
            raise HTTPException(413, f"{file.filename}: larger than {_MAX_UPLOAD} bytes")
        contents.append((file.filename or "upload", raw))
    report = await run_in_threadpool(import_uploads, store_of(request), contents, found.actor)
    return report.as_json()


@router.post("/sync", **guarded(Role.OPERATOR), status_code=202)
def sync(body: Sync, request: Request, found: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """Fetch the feeds (only what changed since the last sync) and import them; 202 with its id.

    The server's sources unless an admin names others. Follow it with
    ``GET /feeds/sync/{id}``; the catalog's counts are at ``GET /feeds``.
    """
    if found.grant.environments:
        raise HTTPException(
            403, "the catalog serves every environment; ask an unrestricted operator"
        )
    if body.sources:
        found.require(Role.ADMIN)
    sources = dict(body.sources) or dict(request.app.state.feed_sources)
    state_file: Path = request.app.state.feeds_state
    store = store_of(request)

    def work(progress: Progress) -> dict[str, Any]:
        report = sync_feeds(store, sources, state_file, progress=progress, actor=found.actor)
        return report.as_json()

    task = board(request).start(
        KIND, found.actor, work, request={"sources": sorted(sources)}, total=None
    )
    return task.as_json()


@router.get("", **guarded(Role.VIEWER))
def status(request: Request) -> dict[str, Any]:
    """The catalog's state, the sources a sync fetches, and the last ten syncs.

    Counts: advisories, withdrawn, KEV-listed, EPSS-scored, CSAF; and the catalog's last
    change (who, when, how many inserted and updated).
    """
    store = store_of(request)
    syncs = board(request).tasks(KIND)
    return {
        **catalog_status(store).as_json(),
        "sources": dict(request.app.state.feed_sources),
        "syncs": [t.as_json() for t in syncs[-10:]],
    }


@router.get("/sync/{sync_id}", **guarded(Role.VIEWER))
def sync_status(sync_id: str, request: Request) -> dict[str, Any]:
    """One sync: running with what it is fetching (bytes done of total), or its outcome."""
    task = board(request).get(KIND, sync_id)
    if task is None:
        raise HTTPException(404, f"no sync {sync_id!r}")
    return task.as_json()
