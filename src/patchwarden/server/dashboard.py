"""The web dashboard: server-rendered pages over the same service functions as the API.

Pages are Jinja2 templates, readable without JavaScript; the one live part (a run's
progress) is a small script of our own that follows the run's server-sent events. A
browser logs in with a form; the session is the API's (HttpOnly, SameSite=Strict cookie).
Every form that changes state carries the session's CSRF token, which the server checks
against the session's stored hash; the token reaches the page through a second
HttpOnly cookie set at login, so no script ever reads it. Buttons are shown only to a
role that may use them, and the server refuses the action anyway to anyone else.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse

from patchwarden.domain.change import ACTIVE_STATES, ChangeRecord, ChangeState
from patchwarden.domain.identity import Role
from patchwarden.errors import InputError, PatchwardenError, RunBusy
from patchwarden.server.auth import SESSION_COOKIE, Caller, client_address, session_caller, store_of
from patchwarden.server.pages import (
    CSRF_COOKIE,
    PAGE_CSP,
    form_caller,
    login_redirect,
    may,
    now,
    render,
    visible,
)
from patchwarden.server.workers import RunWorkers
from patchwarden.service.audit import AuditFilter
from patchwarden.service.change import (
    ChangeNotApproved,
    ChangeRefused,
    approve_change,
    reject_change,
)
from patchwarden.service.execution import begin_change_run, begin_resume
from patchwarden.service.findings import FindingFilter, exposure, find
from patchwarden.service.identity import (
    LOGIN_FORM_LIFETIME,
    SESSION_LIFETIME,
    AccessDenied,
    LoginThrottled,
    check_login_form,
    log_in,
    log_out,
    open_login_form,
)
from patchwarden.service.runs import driven_by_temporal, run_status
from patchwarden.service.runs import request as request_run
from patchwarden.service.temporal import control_on_temporal
from patchwarden.service.temporal_status import workflow_view
from patchwarden.store import RunRecord

__all__ = ["CSRF_COOKIE", "PAGE_CSP", "PRE_SESSION_COOKIE", "router"]

PRE_SESSION_COOKIE = "pw_login"
"""The login form's pre-session cookie, to which the form's CSRF token is bound."""
_PRE_SESSION_AGE = int(LOGIN_FORM_LIFETIME.total_seconds())

SIM_SPEED = 3000.0

router = APIRouter(include_in_schema=False)


def _refusal_status(error: PatchwardenError) -> int:
    """The status of a refused action, as the API answers it; anything else is re-raised."""
    if isinstance(error, RunBusy | ChangeRefused | ChangeNotApproved):
        return 409
    if isinstance(error, InputError):
        return 400
    raise error


def _workers(request: Request) -> RunWorkers:
    workers: RunWorkers = request.app.state.workers
    return workers


# -- logging in and out ------------------------------------------------------------------


def _login_form(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    """The login form, with a new pre-session cookie and the CSRF token stored for it."""
    form = open_login_form(store_of(request), datetime.now(UTC))
    response = render(request, "login.html", None, status_code, error=error, login_token=form.token)
    response.set_cookie(
        PRE_SESSION_COOKIE, form.cookie, max_age=_PRE_SESSION_AGE, httponly=True,
        samesite="strict", secure=_secure(request), path="/login",
    )  # fmt: skip
    return response


def _secure(request: Request) -> bool:
    return bool(request.app.state.secure_cookies) or request.url.scheme == "https"


@router.get("/login")
def login_page(request: Request) -> Response:
    """The login form."""
    return _login_form(request)


@router.post("/login")
def login(
    request: Request,
    user: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Check the form's token, then the password; start a session, go to the overview.

    A post without the token of its pre-session cookie (another site's form, or a form
    used already) is refused (403) before the password is looked at.
    """
    try:
        check_login_form(
            store_of(request), request.cookies.get(PRE_SESSION_COOKIE), csrf_token,
            datetime.now(UTC),
        )  # fmt: skip
    except AccessDenied as error:
        return _login_form(request, 403, str(error))
    try:
        issued = log_in(
            store_of(request), user, password, client_address(request), datetime.now(UTC),
            request.app.state.throttle,
        )  # fmt: skip
    except LoginThrottled as error:
        return _login_form(request, 429, str(error))
    except AccessDenied as error:
        return _login_form(request, 401, str(error))
    response = RedirectResponse("/", status_code=303)
    secure = _secure(request)
    response.delete_cookie(PRE_SESSION_COOKIE, path="/login")
    age = int(SESSION_LIFETIME.total_seconds())
    for name, value in ((SESSION_COOKIE, issued.cookie), (CSRF_COOKIE, issued.csrf)):
        response.set_cookie(
            name, value, max_age=age, httponly=True, samesite="strict", secure=secure, path="/"
        )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session."""
    found = form_caller(request, csrf_token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is not None:
        log_out(store_of(request), cookie, found.actor)
    response = login_redirect()
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- reading -------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request) -> Response:
    """Exposure by environment and severity; changes waiting; runs going."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    store = store_of(request)
    changes = [c for c in store.changes() if visible(found, c.environments)]
    waiting = [c for c in changes if c.state is ChangeState.SUBMITTED]
    running = [r for r in store.runs() if r.state in ("running", "pausing", "aborting")]
    return render(
        request, "overview.html", found,
        exposure=exposure(store, environments=found.grant.environments),
        waiting=waiting, running=running,
    )  # fmt: skip


@router.get("/findings")
def findings(
    request: Request,
    severity: Annotated[str, Query(max_length=32)] = "",
    env: Annotated[str, Query(max_length=64)] = "",
    decision: Annotated[str, Query(max_length=32)] = "",
    asset: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The latest assessment's findings, filtered by a form, 50 a page."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    where = FindingFilter(
        (severity,) if severity else (), (env,) if env else (), (decision,) if decision else (),
        asset or None,
    )  # fmt: skip
    result = find(
        store_of(request), where, environments=found.grant.environments, page=page, per_page=50
    )
    filters = {"severity": severity, "env": env, "decision": decision, "asset": asset}
    return render(
        request, "findings.html", found, result=result, filters=filters,
        rows=[asdict(r) for r in result.items],
    )  # fmt: skip


@router.get("/changes")
def changes(request: Request) -> Response:
    """Every change the user may see, newest first."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    shown = [c for c in store_of(request).changes() if visible(found, c.environments)]
    return render(request, "changes.html", found, changes=list(reversed(shown)))


def _change_page(
    request: Request, found: Caller, change: ChangeRecord, status: int = 200, error: str = ""
) -> Response:
    envs = change.environments
    mine = change.requester == found.grant.user
    return render(
        request, "change.html", found, status, change=change, error=error,
        may_decide=change.state is ChangeState.SUBMITTED and not mine
        and may(found, Role.APPROVER, envs),
        own=mine, may_run=change.state in ACTIVE_STATES and may(found, Role.OPERATOR, envs),
        runs=[r for r in store_of(request).runs() if r.plan_hash == change.plan_hash],
    )  # fmt: skip


def _change(request: Request, found: Caller, change_id: int) -> ChangeRecord:
    change = store_of(request).get_change(change_id)
    if change is None or not visible(found, change.environments):
        raise HTTPException(404, f"no change CHG-{change_id}")
    return change


@router.get("/changes/{change_id}")
def change(change_id: int, request: Request) -> Response:
    """One change: risk, schedule, approvals, history; approve or reject when allowed."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    return _change_page(request, found, _change(request, found, change_id))


@router.post("/changes/{change_id}/approve")
def approve(
    change_id: int,
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    plan_hash: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Approve, as the logged-in user, the plan hash shown on the page."""
    found = form_caller(request, csrf_token)
    current = _change(request, found, change_id)
    found.require(Role.APPROVER, current.environments)
    try:
        approve_change(
            store_of(request), change_id, found.grant.user, now(), comment,
            source=found.actor.source, plan_hash=plan_hash,
        )  # fmt: skip
    except PatchwardenError as error:
        return _change_page(request, found, current, _refusal_status(error), str(error))
    return RedirectResponse(f"/changes/{change_id}", status_code=303)


@router.post("/changes/{change_id}/reject")
def reject(
    change_id: int,
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Reject, as the logged-in user, with a reason."""
    found = form_caller(request, csrf_token)
    current = _change(request, found, change_id)
    found.require(Role.APPROVER, current.environments)
    if not reason.strip():
        return _change_page(request, found, current, 400, "say why the change is rejected")
    try:
        reject_change(
            store_of(request), change_id, found.grant.user, now(), reason,
            source=found.actor.source,
        )  # fmt: skip
    except PatchwardenError as error:
        return _change_page(request, found, current, _refusal_status(error), str(error))
    return RedirectResponse(f"/changes/{change_id}", status_code=303)


@router.post("/changes/{change_id}/run")
def run_change(
    change_id: int, request: Request, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Run the approved change's plan on the simulated estate; go to the run's page."""
    found = form_caller(request, csrf_token)
    current = _change(request, found, change_id)
    found.require(Role.OPERATOR, current.environments)
    try:
        setup = begin_change_run(
            store_of(request), change_id, sim=True, seed=0, speed=SIM_SPEED, now=now(),
            actor=found.actor,
        )  # fmt: skip
    except PatchwardenError as error:
        return _change_page(request, found, current, _refusal_status(error), str(error))
    _workers(request).start(setup, found.actor)
    return RedirectResponse(f"/runs/{setup.run.id}", status_code=303)


# -- runs ------------------------------------------------------------------------------------


def _run_envs(request: Request, run: RunRecord) -> list[str]:
    plan = store_of(request).get_plan(run.plan_hash)
    waves = plan.data.get("waves", []) if plan else []
    return sorted({str(w.get("env", "")) for w in waves})


def _run(request: Request, found: Caller, run_id: str) -> tuple[RunRecord, list[str]]:
    record = store_of(request).get_run(run_id)
    if record is None or not visible(found, envs := _run_envs(request, record)):
        raise HTTPException(404, f"no run {run_id!r}")
    return record, envs


@router.get("/runs")
def runs(request: Request) -> Response:
    """Every run the user may see, newest first."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    shown = [r for r in store_of(request).runs() if visible(found, _run_envs(request, r))]
    return render(request, "runs.html", found, runs=list(reversed(shown)))


@router.get("/runs/{run_id}")
def run(run_id: str, request: Request, error: str = "") -> Response:
    """A run's waves and failures, kept live by its server-sent events.

    A run Temporal drives also shows its workflow as Temporal sees it.
    """
    found = session_caller(request)
    if found is None:
        return login_redirect()
    _, envs = _run(request, found, run_id)
    status = run_status(store_of(request), run_id)
    workflow = workflow_view(status.run, [s for w in status.waves for s in w.in_flight])
    return render(
        request, "run.html", found, status=status, error=error, workflow=workflow,
        may_control=may(found, Role.OPERATOR, envs),
    )  # fmt: skip


@router.post("/runs/{run_id}/{action}")
def control(
    run_id: str, action: str, request: Request, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Pause, resume or abort a run from its page."""
    found = form_caller(request, csrf_token)
    record, envs = _run(request, found, run_id)
    found.require(Role.OPERATOR, envs)
    if action not in ("pause", "resume", "abort"):
        raise HTTPException(404, f"no action {action!r}")
    try:
        if driven_by_temporal(store_of(request), run_id):
            # Its workflow drives it: told, never driven beside it from here.
            control_on_temporal(store_of(request), run_id, action, actor=found.actor, now=now())
        elif action == "resume":
            resumed = begin_resume(
                store_of(request), record, speed=SIM_SPEED, now=now(), user=found.grant.user,
                actor=found.actor,
            )  # fmt: skip
            if resumed.setup is not None:
                _workers(request).start(resumed.setup, found.actor)
        else:
            request_run(store_of(request), run_id, action, actor=found.actor)
    except PatchwardenError as error:
        status = run_status(store_of(request), run_id)
        return render(
            request, "run.html", found, _refusal_status(error), status=status, error=str(error),
            may_control=True,
        )  # fmt: skip
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


# -- audit ---------------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The audit trail's last 200 entries, newest first, for admins."""
    found = session_caller(request)
    if found is None:
        return login_redirect()
    found.require(Role.ADMIN)
    where = AuditFilter(actor=actor or None, action=action or None)
    entries = store_of(request).audit.entries(where)[-200:]
    return render(
        request, "audit.html", found, entries=list(reversed(entries)),
        filters={"actor": actor, "action": action},
    )  # fmt: skip
