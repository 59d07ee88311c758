"""The FastAPI application: versioned routes, error mapping, security headers.

Errors keep the command line's meaning: bad input (exit 2 there) is 400, or 422 with every
``{file, line, field, message, hint}`` for input files; a refusal of the change process is
409; credentials are 401, a role too low 403, throttled logins 429 with ``Retry-After``.
No answer repeats a secret, and a failure of the store says only that it failed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import platformdirs
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from patchwarden import __version__
from patchwarden.errors import (
    InputError,
    PatchwardenError,
    RunBusy,
    StoreError,
    ValidationFailed,
)
from patchwarden.server import (
    api_admin,
    api_auth,
    api_baselines,
    api_changes,
    api_feeds,
    api_findings,
    api_inventory,
    api_plans,
    api_reports,
    api_runs,
    api_scans,
    dashboard,
    dashboard_admin,
    dashboard_estate,
)
from patchwarden.server.tasks import TaskBoard
from patchwarden.server.workers import RunWorkers
from patchwarden.service.audit import AuditChainBroken
from patchwarden.service.change import ChangeNotApproved, ChangeRefused
from patchwarden.service.feeds import DEFAULT_SOURCES
from patchwarden.service.identity import (
    AccessDenied,
    LoginThrottle,
    LoginThrottled,
    OutsideGrant,
)
from patchwarden.store import Store

__all__ = ["API_PREFIX", "OPENAPI_URL", "SECURITY_HEADERS", "create_app", "default_feeds_state"]

API_PREFIX = "/api/v1"
OPENAPI_URL = "/api/openapi.json"

SECURITY_HEADERS = {
    # The API serves JSON and CSV only: nothing may run, load, or frame it.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Every answer may hold data a person is entitled to, not the next user of the browser.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
"""Headers on every answer."""

_log = logging.getLogger("patchwarden.server")


def _problem(status: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _status_of(error: PatchwardenError) -> int:
    if isinstance(error, LoginThrottled):
        return 429
    if isinstance(error, OutsideGrant):
        return 403
    if isinstance(error, AccessDenied):
        return 401
    if isinstance(error, ValidationFailed):
        return 422
    if isinstance(error, ChangeRefused | ChangeNotApproved):
        return 409
    if isinstance(error, InputError):
        return 400
    if isinstance(error, AuditChainBroken | RunBusy):
        return 409
    return 500


def _install_errors(app: FastAPI) -> None:
    async def on_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, PatchwardenError)
        status = _status_of(error)
        if isinstance(error, ValidationFailed):
            problems = [asdict(p) for p in error.problems]
            return _problem(
                422, f"{len(problems)} problem(s); nothing was changed", problems=problems
            )
        if isinstance(error, LoginThrottled):
            response = _problem(429, str(error))
            response.headers["Retry-After"] = str(int(error.retry_after) + 1)
            return response
        if isinstance(error, AuditChainBroken):
            problems = [p.model_dump() for p in error.problems]
            return _problem(409, "the audit trail does not verify", problems=problems)
        if status == 500:
            # The store's own message may name paths or hosts: log it, answer plainly.
            _log.error("%s %s failed: %s", request.method, request.url.path, error)
            detail = (
                "the database failed; see the server log"
                if isinstance(error, StoreError)
                else "internal error"
            )
            return _problem(500, detail)
        return _problem(status, str(error))

    app.add_exception_handler(PatchwardenError, on_error)


def default_feeds_state(store: Store) -> Path:
    """The sync state file of a store's server: one per database, in the user cache dir.

    A sync that finds a source not modified imports nothing, so its state must belong to
    the catalog it fills: a server on another database (or ``feeds sync`` on this machine's
    default one) sharing the file would leave this catalog empty. The name carries a
    digest of the database URL, never the URL (it may hold a password).
    """
    url = store.engine.url.render_as_string(hide_password=False)
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("patchwarden"), f"feeds-state-{digest}.json")


def create_app(
    store: Store,
    *,
    secure_cookies: bool = False,
    throttle: LoginThrottle | None = None,
    real_inventory: Sequence[str] = (),
    feed_sources: Mapping[str, str] | None = None,
    feeds_state: Path | None = None,
) -> FastAPI:
    """The API over ``store``.

    Args:
        store: An open store; the app uses it from its worker threads (it is thread-safe).
        secure_cookies: Mark the session cookie ``Secure`` even on plain HTTP (behind a
            TLS-terminating proxy). Over HTTPS it always is.
        throttle: Counts failed logins; a fresh one (5 per name or address a minute) if
            not given.
        real_inventory: The inventory files real runs reach their hosts by (with the SSH
            settings of the environment, as ``apply --real``); without them only
            simulated runs start.
        feed_sources: What ``POST /feeds/sync`` fetches (``{name: URL}``); the official
            feeds if not given.
        feeds_state: Where a sync keeps each source's ETag and Last-Modified; if not
            given, a file in the user cache directory named after the database (see
            :func:`default_feeds_state`).
    """
    app = FastAPI(
        title="patchwarden",
        version=__version__,
        openapi_url=OPENAPI_URL,
        docs_url=None,  # the interactive pages load scripts from elsewhere; the CSP forbids it
        redoc_url=None,
    )
    app.state.store = store
    app.state.secure_cookies = secure_cookies
    app.state.throttle = throttle or LoginThrottle()
    app.state.real_inventory = tuple(real_inventory)
    app.state.workers = RunWorkers(store)
    app.state.tasks = TaskBoard(store)
    app.state.feed_sources = dict(feed_sources or DEFAULT_SOURCES)
    app.state.feeds_state = feeds_state or default_feeds_state(store)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    _install_errors(app)
    app.mount("/static", StaticFiles(packages=[("patchwarden.server", "static")]), name="static")
    for pages in (dashboard, dashboard_estate, dashboard_admin):
        app.include_router(pages.router)
    api = APIRouter(prefix=API_PREFIX)
    for module in (
        api_auth, api_inventory, api_scans, api_feeds, api_findings, api_baselines, api_plans,
        api_changes, api_runs, api_reports, api_admin,
    ):  # fmt: skip
        api.include_router(module.router)
    app.include_router(api)
    return app
