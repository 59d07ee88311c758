"""Identity: users with argon2 password hashes, API tokens, browser sessions, throttled logins.

Every secret is random and shown once; the store keeps only hashes (argon2id for
passwords, SHA-256 for tokens and session cookies, which are 256-bit random values, so a
fast hash loses nothing). Every change of state here is appended to the audit trail.

A token looks like ``pwt_<id>_<secret>``: the id finds the row, the secret is checked
against its hash in constant time. Its role is never above its user's, and it is checked
again on every use: disabling the user or lowering the user's role takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from patchwarden.domain.identity import Grant, Role, parse_role
from patchwarden.domain.window import parse_duration
from patchwarden.errors import InputError, UsageError
from patchwarden.service.audit import Actor, record
from patchwarden.store import Store
from patchwarden.store.accounts import SessionRecord, TokenRecord, UserRecord

__all__ = [
    "LOGIN_FORM_LIFETIME",
    "MIN_PASSWORD",
    "SESSION_LIFETIME",
    "TOKEN_PREFIX",
    "AccessDenied",
    "IssuedLoginForm",
    "IssuedSession",
    "IssuedToken",
    "LoginThrottle",
    "LoginThrottled",
    "OutsideGrant",
    "add_user",
    "authenticate_session",
    "authenticate_token",
    "check_csrf",
    "check_login_form",
    "create_token",
    "disable_user",
    "expiry_from",
    "local_approver",
    "log_in",
    "log_out",
    "open_login_form",
    "revoke_token",
    "set_password",
]

MIN_PASSWORD = 12
"""The shortest password accepted, in characters."""

SESSION_LIFETIME = timedelta(hours=8)
"""How long a browser session lasts after logging in."""

LOGIN_FORM_LIFETIME = timedelta(hours=1)
"""How long a login page's form may be posted."""

TOKEN_PREFIX = "pwt_"
"""What every API token starts with, so secret scanners can recognise one."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_HASHER = PasswordHasher()
# Checked when a name is unknown, so "no such user" costs as long as "wrong password".
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class AccessDenied(InputError):
    """Unknown or wrong credentials, an expired or revoked token, or a role too low."""


class OutsideGrant(AccessDenied):
    """A known caller asked to act beyond the environments its role covers (403, not 401)."""


class LoginThrottled(AccessDenied):
    """Too many failed logins for a name or from an address; wait, then retry."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed logins; try again in {int(retry_after) + 1} s")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"user name {name!r} is not allowed; use 1-64 lower-case letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is too short; use at least {MIN_PASSWORD} characters")
    return password


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as error:
        raise UsageError(str(error)) from error


def _user(store: Store, name: str) -> UserRecord:
    user = store.accounts.get_user(name)
    if user is None:
        raise UsageError(f"no user {name!r}; `patchwarden user list` shows them")
    return user


# -- users --------------------------------------------------------------------------------


def add_user(
    store: Store,
    name: str,
    password: str,
    role: str,
    environments: Sequence[str],
    actor: Actor,
) -> UserRecord:
    """Create a user with an argon2id hash of ``password``.

    Raises:
        UsageError: a bad name, role or password, or the name is taken.
    """
    _check_name(name)
    checked = _role(role)
    _check_password(password)
    try:
        user = store.accounts.add_user(name, _HASHER.hash(password), checked.value, environments)
    except ValueError as error:
        raise UsageError(str(error)) from error
    record(
        store, actor, "user.add", "user", name,
        details={"role": checked.value, "environments": list(environments)},
    )  # fmt: skip
    return user


def set_password(store: Store, name: str, password: str, actor: Actor) -> UserRecord:
    """Replace a user's password; its sessions end.

    Raises:
        UsageError: no such user, or the password is too short.
    """
    _user(store, name)
    _check_password(password)
    user = store.accounts.update_user(name, password_hash=_HASHER.hash(password))
    record(store, actor, "user.passwd", "user", name)
    return user


def disable_user(store: Store, name: str, actor: Actor, *, disabled: bool = True) -> UserRecord:
    """Disable a user (its sessions end, its tokens stop working), or enable it again.

    Raises:
        UsageError: no such user.
    """
    _user(store, name)
    user = store.accounts.update_user(name, disabled=disabled)
    record(store, actor, "user.disable" if disabled else "user.enable", "user", name)
    return user


# -- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` is the whole token, shown once and never stored."""

    record: TokenRecord
    secret: str


def _narrow(user_envs: Sequence[str], asked: Sequence[str]) -> tuple[str, ...]:
    """Environments a token may cover: what was asked, within the user's (empty = all)."""
    if not user_envs:
        return tuple(asked)
    if not asked:
        return tuple(user_envs)
    outside = sorted(set(asked) - set(user_envs))
    if outside:
        raise UsageError(
            f"the user is limited to {', '.join(user_envs)}; a token cannot cover "
            f"{', '.join(outside)}"
        )
    return tuple(asked)


def create_token(
    store: Store,
    user: str,
    name: str,
    role: str | None,
    environments: Sequence[str],
    expires_at: datetime | None,
    actor: Actor,
) -> IssuedToken:
    """Make an API token for ``user``, at most with the user's role and environments.

    ``role`` ``None`` gives the token the user's role; ``expires_at`` ``None`` never expires.

    Raises:
        UsageError: no such user (or disabled), a role above the user's, environments
            outside the user's.
    """
    owner = _user(store, user)
    if owner.disabled:
        raise UsageError(f"user {user!r} is disabled; enable it before making tokens")
    owner_role = Role(owner.role)
    scope = owner_role if role is None else _role(role)
    if not owner_role.at_least(scope):
        raise UsageError(f"{user} is {owner_role.value}; a token cannot be {scope.value}")
    envs = _narrow(owner.environments, environments)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    stored = store.accounts.add_token(
        token_id, user, name, _sha256(secret), scope.value, envs, expires_at
    )
    record(
        store, actor, "token.create", "token", token_id,
        details={
            "user": user, "name": name, "role": scope.value, "environments": list(envs),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )  # fmt: skip
    return IssuedToken(stored, f"{TOKEN_PREFIX}{token_id}_{secret}")


def expiry_from(text: str | None, now: datetime) -> datetime | None:
    """When a token made ``now`` expires: ``30d``, ``12h``, an ISO 8601 time, or ``never``.

    Raises:
        UsageError: anything else, or a time in the past.

    Example:
        >>> from datetime import UTC, datetime
        >>> expiry_from("30d", datetime(2026, 1, 1, tzinfo=UTC)).isoformat()
        '2026-01-31T00:00:00+00:00'
        >>> expiry_from("never", datetime(2026, 1, 1, tzinfo=UTC)) is None
        True
    """
    if text is None or text.strip().lower() == "never":
        return None
    span = parse_duration(text)
    if isinstance(span, timedelta):
        when = now + span
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"--expires {text!r}: write a duration (30d, 12h), a time (2027-01-31T00:00Z) "
                "or never"
            ) from None
        when = when if when.tzinfo else when.replace(tzinfo=now.tzinfo)
    if when <= now:
        raise UsageError(f"--expires {text!r} is not in the future")
    return when


def revoke_token(store: Store, token_id: str, actor: Actor) -> TokenRecord:
    """Revoke a token; it is refused from now on.

    Raises:
        UsageError: no such token.
    """
    try:
        revoked = store.accounts.revoke_token(token_id.removeprefix(TOKEN_PREFIX))
    except KeyError as error:
        raise UsageError(str(error.args[0])) from error
    record(store, actor, "token.revoke", "token", revoked.id, details={"user": revoked.user})
    return revoked


def _effective(user: UserRecord, role: Role, envs: Sequence[str]) -> tuple[Role, tuple[str, ...]]:
    """A grant as it stands now: never above what the user holds today."""
    user_role = Role(user.role)
    effective = role if user_role.at_least(role) else user_role
    if not user.environments:
        return effective, tuple(envs)
    if not envs:
        return effective, user.environments
    return effective, tuple(e for e in envs if e in user.environments) or ("-",)


def authenticate_token(store: Store, presented: str, now: datetime) -> Grant:
    """The grant a bearer token carries now.

    Raises:
        AccessDenied: malformed, unknown, wrong, expired or revoked token, or its user is
            disabled. The message says which, but never repeats the token.
    """
    body = presented.removeprefix(TOKEN_PREFIX)
    token_id, _, secret = body.partition("_")
    token = store.accounts.get_token(token_id) if presented.startswith(TOKEN_PREFIX) else None
    if token is None or not hmac.compare_digest(token.secret_hash, _sha256(secret)):
        raise AccessDenied("unknown token")
    if token.revoked_at is not None:
        raise AccessDenied(f"token {token.id} was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise AccessDenied(f"token {token.id} expired at {token.expires_at.isoformat()}")
    user = store.accounts.get_user(token.user)
    if user is None or user.disabled:
        raise AccessDenied(f"the user of token {token.id} is disabled")
    role, envs = _effective(user, Role(token.role), token.environments)
    return Grant(
        user=user.name, role=role, environments=envs, via=f"token {token.id}",
        expires_at=token.expires_at,
    )  # fmt: skip


# -- sessions and logins --------------------------------------------------------------------


class LoginThrottle:
    """At most ``limit`` failed logins per name and per address within ``window``.

    Kept in the server's memory: it slows down guessing against one server process. Past
    the limit, every attempt (even with the right password) is refused until the oldest
    counted failure is ``window`` old.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> throttle = LoginThrottle(limit=2, window=timedelta(seconds=60))
        >>> for _ in range(2):
        ...     throttle.failed(("user:bob", "addr:10.0.0.9"), t)
        >>> throttle.retry_after(("user:bob",), t + timedelta(seconds=10))
        50.0
        >>> throttle.retry_after(("user:bob",), t + timedelta(seconds=61))
        0.0
    """

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, keys: Sequence[str], now: datetime) -> float:
        """Seconds to wait before the next attempt with these keys (0: go ahead)."""
        with self._lock:
            waits = [
                (times[0] + self.window - now).total_seconds()
                for key in keys
                if len(times := self._recent(key, now)) >= self.limit
            ]
        return max(waits, default=0.0)

    def failed(self, keys: Sequence[str], now: datetime) -> None:
        """Count a failed login against each key."""
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)


@dataclass(frozen=True)
class IssuedSession:
    """A new browser session: ``cookie`` and ``csrf`` are shown once and stored hashed."""

    record: SessionRecord
    cookie: str
    csrf: str


def log_in(
    store: Store,
    name: str,
    password: str,
    source: str,
    now: datetime,
    throttle: LoginThrottle,
) -> IssuedSession:
    """Check a password and start a session.

    Raises:
        LoginThrottled: too many recent failures for this name or from this source.
        AccessDenied: unknown user, wrong password, or a disabled user (one message for
            all three, so the answer does not tell which names exist).
    """
    keys = (f"user:{name}", f"addr:{source}")
    wait = throttle.retry_after(keys, now)
    if wait > 0:
        raise LoginThrottled(wait)
    user = store.accounts.get_user(name)
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and not user.disabled
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        throttle.failed(keys, now)
        record(store, Actor(name, source), "login.failed", "user", name)
        raise AccessDenied("wrong user name or password")
    if _HASHER.check_needs_rehash(user.password_hash):
        store.accounts.update_user(name, password_hash=_HASHER.hash(password))
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    stored = store.accounts.add_session(
        _sha256(cookie), user.name, _sha256(csrf), source, now + SESSION_LIFETIME
    )
    record(store, Actor(user.name, source), "login", "user", user.name)
    return IssuedSession(stored, cookie, csrf)


def authenticate_session(store: Store, cookie: str, now: datetime) -> tuple[Grant, SessionRecord]:
    """The grant of the session a cookie names.

    Raises:
        AccessDenied: no such session, it expired, or its user is disabled.
    """
    session = store.accounts.get_session(_sha256(cookie))
    if session is None or session.expires_at <= now:
        raise AccessDenied("no session, or it expired; log in again")
    user = store.accounts.get_user(session.user)
    if user is None or user.disabled:
        raise AccessDenied("the session's user is disabled")
    grant = Grant(
        user=user.name, role=Role(user.role), environments=user.environments, via="session",
        expires_at=session.expires_at,
    )  # fmt: skip
    return grant, session


def check_csrf(session: SessionRecord, presented: str | None) -> None:
    """Refuse a state-changing request of a session without its CSRF token.

    Raises:
        AccessDenied: the token is missing or wrong.
    """
    if not presented or not hmac.compare_digest(session.csrf_hash, _sha256(presented)):
        raise AccessDenied("missing or wrong CSRF token; reload the page and try again")


@dataclass(frozen=True)
class IssuedLoginForm:
    """A login page's pre-session ``cookie`` and CSRF ``token``: shown once, stored hashed."""

    cookie: str
    token: str


def open_login_form(store: Store, now: datetime) -> IssuedLoginForm:
    """A new login form: a random pre-session cookie and token, stored as their SHA-256.

    The form carries the token and the browser keeps the cookie (HttpOnly, SameSite=Strict,
    path ``/login``); another site can neither read the token nor make the browser send the
    cookie with its own POST, and a cookie planted from elsewhere has no row. Like a
    session, a form is in the store (so it outlives a restart of the server, and every
    server on the database knows it) and only hashes are kept (so reading the database gives
    no token). Forms last :data:`LOGIN_FORM_LIFETIME`; expired ones are swept here.
    """
    cookie, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    store.accounts.add_login_form(_sha256(cookie), _sha256(token), now + LOGIN_FORM_LIFETIME)
    return IssuedLoginForm(cookie, token)


def check_login_form(
    store: Store, cookie: str | None, presented: str | None, now: datetime
) -> None:
    """Refuse a login form post whose token is not the one of its pre-session cookie.

    A form is used once: checking it, rightly or wrongly, removes it (a refused or failed
    login is answered with a new form).

    Raises:
        AccessDenied: no pre-session cookie or token, no such form, an expired one, or a
            token that does not fit.
    """
    form = store.accounts.take_login_form(_sha256(cookie)) if cookie else None
    fits = (
        form is not None
        and presented is not None
        and form.expires_at > now
        and hmac.compare_digest(form.token_hash, _sha256(presented))
    )
    if not fits:
        raise AccessDenied(
            "the login form was not ours (another site's, used already, or too old); "
            "reload the login page and log in again"
        )


def log_out(store: Store, cookie: str, actor: Actor) -> None:
    """End the session a cookie names (nothing happens if there is none)."""
    if store.accounts.end_session(_sha256(cookie)):
        record(store, actor, "logout", "user", actor.name)


def local_approver(
    store: Store, login: str, typed: str | None, role: Role, *, fallback: str | None = None
) -> str:
    """Who approves (or rejects) from this machine's command line.

    Rules: once the store has users, the command line acts as the patchwarden user of the
    operating system login running it (the same name), who must exist, be enabled and hold
    ``role``; a name typed with ``--as`` is accepted only if it is that user, since a typed
    name proves nothing. A store without users (one person's install) keeps the typed
    name (or ``fallback``, the ``$USER`` of the command), as before there were users. A
    server's callers are its tokens' and sessions' users instead (``--server``).

    Raises:
        AccessDenied: ``--as`` names someone else, or the login is no user with ``role``.
        UsageError: no users, and neither a typed name nor a fallback.
    """
    if not store.accounts.users():
        person = typed or fallback
        if not person:
            raise UsageError("who are you? pass --as NAME (or set $USER)")
        return person
    if typed is not None and typed != login:
        raise AccessDenied(
            f"--as {typed}: you are logged in as {login}, and a typed name proves nothing; "
            f"log in as {typed}, or use the server with {typed}'s token (--server)"
        )
    user = store.accounts.get_user(login)
    if user is None or user.disabled:
        raise AccessDenied(
            f"{login} (this machine's login) is no enabled patchwarden user; "
            f"`patchwarden user add {login} --role {role.value}`"
        )
    if not Role(user.role).at_least(role):
        raise AccessDenied(f"{login} is a {user.role}; this needs the {role.value} role")
    return user.name
