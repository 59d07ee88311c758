"""Authentication and roles at the edge: who is calling, and may they call this route.

A caller proves who it is with ``Authorization: Bearer pwt_...`` (an API token) or with the
session cookie set by ``POST /api/v1/auth/login``. A request of a session that changes state
(anything but GET, HEAD, OPTIONS) must also carry the session's CSRF token in the
``X-CSRF-Token`` header; a token-authenticated request needs none, since a browser never
sends a bearer token on its own.

Each route names the role it needs once, with :func:`guarded`: the dependency runs before
any parameter or body is validated (so an anonymous request learns nothing), and the role
is published in the OpenAPI document as ``x-required-role`` for tests and clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, HTTPException, Request

from patchwarden.domain.identity import Grant, Role
from patchwarden.service.audit import Actor
from patchwarden.service.identity import (
    AccessDenied,
    authenticate_session,
    authenticate_token,
    check_csrf,
)
from patchwarden.store import Store
from patchwarden.store.accounts import SessionRecord

__all__ = [
    "CSRF_HEADER",
    "ROLE_KEY",
    "SESSION_COOKIE",
    "Caller",
    "caller",
    "client_address",
    "guarded",
    "session_caller",
    "store_of",
]

SESSION_COOKIE = "pw_session"
CSRF_HEADER = "X-CSRF-Token"
ROLE_KEY = "x-required-role"
"""The OpenAPI extension that names the role a route needs."""

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: what it may do and where the request came from."""

    grant: Grant
    address: str
    session: SessionRecord | None = None

    @property
    def actor(self) -> Actor:
        """The caller as the audit trail names it: user, and ``api ADDRESS (how)``."""
        return Actor(self.grant.user, f"api {self.address} ({self.grant.via})")

    def require(self, role: Role, envs: Any = ()) -> None:
        """Refuse (403) unless the grant covers ``role`` in every one of ``envs``."""
        if not self.grant.allows_all(role, envs):
            where = f" in {', '.join(envs)}" if envs else ""
            raise HTTPException(
                403, f"{self.grant.user} ({self.grant.role.value}) may not do this{where}"
            )


def store_of(request: Request) -> Store:
    """The store the app was built with."""
    store: Store = request.app.state.store
    return store


def client_address(request: Request) -> str:
    """The peer's address as the server saw it (proxies' headers are not trusted)."""
    return request.client.host if request.client else "unknown"


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": 'Bearer realm="patchwarden"'})


def _authenticate(request: Request) -> Caller:
    store = store_of(request)
    now = datetime.now(UTC)
    address = client_address(request)
    header = request.headers.get("authorization")
    try:
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise _unauthorized("use `Authorization: Bearer TOKEN`")
            return Caller(authenticate_token(store, value.strip(), now), address)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is None:
            raise _unauthorized("log in (POST /api/v1/auth/login) or send a bearer token")
        grant, session = authenticate_session(store, cookie, now)
    except AccessDenied as error:
        raise _unauthorized(str(error)) from error
    if request.method not in _SAFE:
        try:
            check_csrf(session, request.headers.get(CSRF_HEADER))
        except AccessDenied as error:
            raise HTTPException(403, str(error)) from error
    return Caller(grant, address, session)


def session_caller(request: Request) -> Caller | None:
    """The caller of a browser session (the dashboard's pages), or ``None`` if logged out.

    Only the session cookie counts here: pages are for browsers. A state-changing form
    still proves its CSRF token (see :func:`patchwarden.service.identity.check_csrf`).
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    try:
        grant, session = authenticate_session(store_of(request), cookie, datetime.now(UTC))
    except AccessDenied:
        return None
    return Caller(grant, client_address(request), session)


def _need(role: Role) -> Callable[[Request], None]:
    def dependency(request: Request) -> None:
        found = _authenticate(request)
        found.require(role)
        request.state.caller = found

    return dependency


def guarded(role: Role) -> dict[str, Any]:
    """Route keywords that require ``role``: ``@router.get(path, **guarded(Role.VIEWER))``."""
    return {"dependencies": [Depends(_need(role))], "openapi_extra": {ROLE_KEY: role.value}}


def caller(request: Request) -> Caller:
    """The caller a :func:`guarded` route authenticated (use with ``Depends``)."""
    found: Caller = request.state.caller
    return found
