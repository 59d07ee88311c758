"""Dashboard pages for admins: users (add, disable, enable) and API tokens (create, revoke).

Every page and form here needs the admin role; each form carries the session's CSRF
token. A new token's secret is shown once, on the page that answers its creation, and is
never stored (only its hash). Everything goes through the same service functions as
``patchwarden user`` and ``patchwarden token``, so the audit trail names the admin.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from patchwarden.domain.identity import Role
from patchwarden.errors import InputError
from patchwarden.server.auth import Caller, session_caller, store_of
from patchwarden.server.pages import form_caller, login_redirect, now, render
from patchwarden.service.identity import (
    add_user,
    create_token,
    disable_user,
    expiry_from,
    revoke_token,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

_ROLES = [r.value for r in Role]


def _envs(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


def _users_page(
    request: Request, found: Caller, status_code: int = 200, error: str = ""
) -> Response:
    return render(
        request, "users.html", found, status_code, users=store_of(request).accounts.users(),
        roles=_ROLES, error=error,
    )  # fmt: skip


def _tokens_page(
    request: Request, found: Caller, status_code: int = 200, error: str = "", secret: str = ""
) -> Response:
    store = store_of(request)
    return render(
        request, "tokens.html", found, status_code, tokens=store.accounts.tokens(),
        users=[u.name for u in store.accounts.users() if not u.disabled], roles=_ROLES,
        error=error, secret=secret,
    )  # fmt: skip


@router.get("/users")
def users(request: Request) -> Response:
    """Every user with role, environments and state; add one, disable or enable one."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    found.require(Role.ADMIN)
    return _users_page(request, found)


@router.post("/users")
def add(
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    environments: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Add a user (the password is hashed with argon2id, never kept)."""
    found = form_caller(request, csrf_token)
    found.require(Role.ADMIN)
    try:
        add_user(store_of(request), name, password, role, _envs(environments), found.actor)
    except InputError as error:
        return _users_page(request, found, 400, str(error))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{name}/{action}")
def disable(
    name: str, action: str, request: Request, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Disable a user (its sessions end, its tokens stop working) or enable it again."""
    found = form_caller(request, csrf_token)
    found.require(Role.ADMIN)
    if action not in ("disable", "enable"):
        return _users_page(request, found, 404, f"no action {action!r}")
    if action == "disable" and name == found.grant.user:
        return _users_page(request, found, 400, "you cannot disable yourself")
    try:
        disable_user(store_of(request), name, found.actor, disabled=action == "disable")
    except InputError as error:
        return _users_page(request, found, 400, str(error))
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/tokens")
def tokens(request: Request) -> Response:
    """Every API token (never a secret): user, role, environments, expiry, revoked."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    found.require(Role.ADMIN)
    return _tokens_page(request, found)


@router.post("/tokens")
def create(
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    environments: Annotated[str, Form(max_length=500)] = "",
    expires: Annotated[str, Form(max_length=64)] = "30d",
) -> Response:
    """Make a token; the answer shows its secret once (the page is never cached)."""
    found = form_caller(request, csrf_token)
    found.require(Role.ADMIN)
    try:
        expires_at = expiry_from(expires or None, now())
        issued = create_token(
            store_of(request), user, name or "dashboard", role or None, _envs(environments),
            expires_at, found.actor,
        )  # fmt: skip
    except InputError as error:
        return _tokens_page(request, found, 400, str(error))
    return _tokens_page(request, found, 201, secret=issued.secret)


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: str, request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Revoke a token: refused from now on."""
    found = form_caller(request, csrf_token)
    found.require(Role.ADMIN)
    try:
        revoke_token(store_of(request), token_id, found.actor)
    except InputError as error:
        return _tokens_page(request, found, 400, str(error))
    return RedirectResponse("/admin/tokens", status_code=303)
