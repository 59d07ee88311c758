"""``/api/v1/report``: the latest assessment's report as HTML, CSV or JSON.

What ``patchwarden report`` writes, made from the same store by the same service function.
Choose the form with ``?format=html|csv|json`` or the ``Accept`` header.

The HTML page is self-contained (its styles inline, one optional script). Its answer
carries its own Content-Security-Policy, allowing inline styles and that one script by its
SHA-256 and nothing else, so a browser shows it as the command line's file shows.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from patchwarden.domain.identity import Role
from patchwarden.report import render_csv, render_html, render_json
from patchwarden.server.auth import Caller, caller, guarded, store_of
from patchwarden.service.report_views import stored_report

__all__ = ["report_csp", "router"]

router = APIRouter(prefix="/report", tags=["reports"])

_MEDIA = {"html": "text/html", "csv": "text/csv", "json": "application/json"}
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def report_csp(html: str) -> str:
    """The CSP of a report page: inline styles, its inline scripts by hash, nothing else.

    Example:
        >>> report_csp("<style>p{}</style><script>go()</script>").split("; ")[2]
        "script-src 'sha256-5KYv+PUboo5h+0+YAtGRPbwv5d/QxzHslP4YGnUaxRw='"
    """
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _SCRIPT.findall(html)
    ]
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            "script-src " + (" ".join(hashes) or "'none'"),
            "img-src data:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _format(request: Request, given: str | None) -> str:
    if given is not None:
        return given
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        for name, served in _MEDIA.items():
            if media == served:
                return name
    return "json"


@router.get(
    "",
    **guarded(Role.VIEWER),
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/csv": {}, "application/json": {}}}},
)
async def report(
    request: Request,
    found: Annotated[Caller, Depends(caller)],
    format: Literal["html", "csv", "json"] | None = None,
    title: Annotated[str, Query(max_length=200)] = "patchwarden report",
) -> Response:
    """The latest assessment compared with the one before it, with the latest run in between.

    HTML: one offline page (summary, charts, overdue list, baselines, drift, per asset).
    CSV: the sheet. JSON: the report's data. The report covers every environment, so a
    caller limited to some is refused (403); 400 when nothing is assessed yet.
    """
    if found.grant.environments:
        raise HTTPException(403, "the report covers every environment; ask for the findings")
    chosen = _format(request, format)
    render = {"html": render_html, "csv": render_csv, "json": render_json}[chosen]
    store = store_of(request)
    text = await run_in_threadpool(
        lambda: render(stored_report(store, title, datetime.now(UTC).replace(microsecond=0)))
    )
    response = Response(text, media_type=f"{_MEDIA[chosen]}; charset=utf-8")
    if chosen == "html":
        response.headers["Content-Security-Policy"] = report_csp(text)
    return response
