"""``/api/v1/auth``: log in (session cookie + CSRF token), log out, who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from patchwarden.domain.identity import Role
from patchwarden.server.auth import (
    SESSION_COOKIE,
    Caller,
    caller,
    client_address,
    guarded,
    store_of,
)
from patchwarden.service.identity import SESSION_LIFETIME, log_in, log_out

__all__ = ["Login", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])


class Login(BaseModel):
    """A user name and password."""

    user: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


def _me(found: Caller) -> dict[str, Any]:
    g = found.grant
    return {
        "user": g.user,
        "role": g.role.value,
        "environments": list(g.environments),
        "via": g.via,
        "expires_at": g.expires_at.isoformat() if g.expires_at else None,
    }


@router.post("/login")
def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Check the password and start a session: an HttpOnly, SameSite=Strict cookie.

    The answer carries the session's CSRF token: send it as ``X-CSRF-Token`` with every
    request that changes state. Failed logins are throttled per name and per address.
    """
    issued = log_in(
        store_of(request),
        body.user,
        body.password,
        client_address(request),
        datetime.now(UTC),
        request.app.state.throttle,
    )
    response.set_cookie(
        SESSION_COOKIE,
        issued.cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.app.state.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return {
        "user": issued.record.user,
        "csrf_token": issued.csrf,
        "expires_at": issued.record.expires_at.isoformat(),
    }


@router.post("/logout", **guarded(Role.VIEWER))
def logout(
    request: Request, response: Response, found: Annotated[Caller, Depends(caller)]
) -> dict[str, Any]:
    """End this session (a token caller has none: revoke tokens with ``token revoke``)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        log_out(store_of(request), cookie, found.actor)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"logged_out": cookie is not None}


@router.get("/me", **guarded(Role.VIEWER))
def me(found: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """Who the caller is: user, role, environments, and how it authenticated."""
    return _me(found)
