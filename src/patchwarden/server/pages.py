"""What every dashboard page shares: the templates, the page policy, who is logged in.

A page is rendered with the logged-in user's grant (buttons are shown only to a role
that may use them) and the session's CSRF token for its forms; a form post proves that
token before anything is done (:func:`form_caller`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from patchwarden.domain.identity import Role
from patchwarden.server.auth import Caller, session_caller
from patchwarden.service.identity import AccessDenied, check_csrf

__all__ = [
    "CSRF_COOKIE",
    "PAGE_CSP",
    "form_caller",
    "login_redirect",
    "may",
    "now",
    "render",
    "visible",
]

CSRF_COOKIE = "pw_csrf"
"""Holds the session's CSRF token for the pages' forms (HttpOnly: only the server reads it)."""

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The pages' Content-Security-Policy: our own script and style, nothing inline or foreign."""

_templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("patchwarden.server", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
)


def now() -> datetime:
    """Now, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def render(
    request: Request,
    name: str,
    found: Caller | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A template rendered for the caller, with the pages' policy."""
    response = _templates.TemplateResponse(
        request,
        name,
        {
            "me": found.grant if found else None,
            "csrf": request.cookies.get(CSRF_COOKIE, ""),
            "Role": Role,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def login_redirect() -> RedirectResponse:
    """To the login page."""
    return RedirectResponse("/login", status_code=303)


def visible(found: Caller, envs: Any) -> bool:
    """Whether the caller sees something touching ``envs`` (a grant for some sees only those)."""
    mine = found.grant.environments
    return not mine or any(e in mine for e in envs)


def may(found: Caller, role: Role, envs: Any = ()) -> bool:
    """Whether the caller's grant covers ``role`` in every one of ``envs``."""
    return found.grant.allows_all(role, envs)


def form_caller(request: Request, csrf_token: str) -> Caller:
    """The session caller of a form post, its CSRF token proven; 401/403 otherwise."""
    found = session_caller(request)
    if found is None or found.session is None:
        raise HTTPException(401, "log in first")
    try:
        check_csrf(found.session, csrf_token)
    except AccessDenied as error:
        raise HTTPException(403, str(error)) from error
    return found
