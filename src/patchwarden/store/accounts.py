"""Users, API tokens and browser sessions: rows in, plain records out.

Only hashes of secrets are stored: argon2 for passwords (computed by ``service.identity``),
SHA-256 for token secrets and session cookies, which are random and long enough that a
fast hash is safe. :class:`Accounts` is reached as ``store.accounts``; each method is one
transaction, like the rest of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from patchwarden.store.tables import ApiToken, LoginForm, User, UserSession, as_utc

__all__ = ["Accounts", "LoginFormRecord", "SessionRecord", "TokenRecord", "UserRecord"]

Transact = Callable[[str, bool], AbstractContextManager[Session]]
"""Opens one transaction: ``(what it does, whether it writes)``."""


@dataclass(frozen=True)
class UserRecord:
    """A user as stored (the password hash stays inside the service that checks it)."""

    name: str
    password_hash: str
    role: str
    environments: tuple[str, ...]
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: never its secret, only the secret's hash."""

    id: str
    user: str
    name: str
    secret_hash: str
    role: str
    environments: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SessionRecord:
    """A browser session as stored."""

    id_hash: str
    user: str
    csrf_hash: str
    source: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LoginFormRecord:
    """A login form as stored: the hashes of its cookie and token, and when it expires."""

    id_hash: str
    token_hash: str
    created_at: datetime
    expires_at: datetime


def _user(row: User) -> UserRecord:
    return UserRecord(
        row.name,
        row.password_hash,
        row.role,
        tuple(row.environments),
        row.disabled,
        row.created_at,
        row.updated_at,
    )


def _token(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.user,
        row.name,
        row.secret_hash,
        row.role,
        tuple(row.environments),
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


def _session_record(row: UserSession) -> SessionRecord:
    return SessionRecord(
        row.id_hash, row.user, row.csrf_hash, row.source, row.created_at, row.expires_at
    )


class Accounts:
    """Users, tokens and sessions of one store; get it as ``store.accounts``."""

    def __init__(self, transact: Transact, now: Callable[[], datetime]) -> None:
        self._transact = transact
        self._now = now

    # -- users ------------------------------------------------------------------------

    def add_user(
        self, name: str, password_hash: str, role: str, environments: Sequence[str]
    ) -> UserRecord:
        """Create a user.

        Raises:
            ValueError: a user of that name exists.
        """
        with self._transact("add the user", True) as session:
            if session.get(User, name) is not None:
                raise ValueError(f"user {name!r} exists; `patchwarden user passwd` changes it")
            now = self._now()
            row = User(
                name=name,
                password_hash=password_hash,
                role=role,
                environments=list(environments),
                disabled=False,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _user(row)

    def get_user(self, name: str) -> UserRecord | None:
        """The user of that name, or ``None``."""
        with self._transact("read a user", False) as session:
            row = session.get(User, name)
            return None if row is None else _user(row)

    def users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._transact("read users", False) as session:
            return [_user(r) for r in session.scalars(select(User).order_by(User.name))]

    def count_users(self) -> int:
        """How many users exist (disabled ones too)."""
        return len(self.users())

    def update_user(
        self,
        name: str,
        *,
        password_hash: str | None = None,
        role: str | None = None,
        environments: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        """Change what is given of a user; disabling also ends its sessions.

        Raises:
            KeyError: no such user.
        """
        with self._transact("update the user", True) as session:
            row = session.get(User, name)
            if row is None:
                raise KeyError(f"no user {name!r}; `patchwarden user list` shows them")
            if password_hash is not None:
                row.password_hash = password_hash
            if role is not None:
                row.role = role
            if environments is not None:
                row.environments = list(environments)
            if disabled is not None:
                row.disabled = disabled
            if disabled or password_hash is not None:
                # A new password or a disabled account ends every session it had.
                session.execute(delete(UserSession).where(UserSession.user == name))
            row.updated_at = self._now()
            session.flush()
            return _user(row)

    # -- tokens -----------------------------------------------------------------------

    def add_token(
        self,
        token_id: str,
        user: str,
        name: str,
        secret_hash: str,
        role: str,
        environments: Sequence[str],
        expires_at: datetime | None,
    ) -> TokenRecord:
        """Store a new token (its secret's hash only).

        Raises:
            KeyError: no such user.
        """
        with self._transact("create the token", True) as session:
            if session.get(User, user) is None:
                raise KeyError(f"no user {user!r}; add it with `patchwarden user add`")
            row = ApiToken(
                id=token_id,
                user=user,
                name=name,
                secret_hash=secret_hash,
                role=role,
                environments=list(environments),
                created_at=self._now(),
                expires_at=None if expires_at is None else as_utc(expires_at),
                revoked_at=None,
            )
            session.add(row)
            session.flush()
            return _token(row)

    def get_token(self, token_id: str) -> TokenRecord | None:
        """The token with this id, or ``None``."""
        with self._transact("read a token", False) as session:
            row = session.get(ApiToken, token_id)
            return None if row is None else _token(row)

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens, oldest first, optionally only one user's."""
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if user is not None:
            query = query.where(ApiToken.user == user)
        with self._transact("read tokens", False) as session:
            return [_token(r) for r in session.scalars(query)]

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token now; revoking it again keeps the first time.

        Raises:
            KeyError: no such token.
        """
        with self._transact("revoke the token", True) as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise KeyError(f"no token {token_id!r}; `patchwarden token list` shows them")
            if row.revoked_at is None:
                row.revoked_at = self._now()
            session.flush()
            return _token(row)

    # -- login forms ------------------------------------------------------------------

    def add_login_form(self, id_hash: str, token_hash: str, expires_at: datetime) -> None:
        """Store a login form's hashes; expired forms are swept at the same time."""
        now = self._now()
        with self._transact("open a login form", True) as session:
            session.execute(delete(LoginForm).where(LoginForm.expires_at <= now))
            session.add(
                LoginForm(
                    id_hash=id_hash,
                    token_hash=token_hash,
                    created_at=now,
                    expires_at=as_utc(expires_at),
                )
            )

    def take_login_form(self, id_hash: str) -> LoginFormRecord | None:
        """Remove and return the login form with this cookie hash (a form is used once)."""
        with self._transact("use a login form", True) as session:
            row = session.get(LoginForm, id_hash)
            if row is None:
                return None
            found = LoginFormRecord(row.id_hash, row.token_hash, row.created_at, row.expires_at)
            # Two posts of one form at once: only the one whose delete removed the row wins.
            gone = session.execute(delete(LoginForm).where(LoginForm.id_hash == id_hash))
            return found if gone.rowcount == 1 else None  # type: ignore[attr-defined]  # execute() returns a CursorResult, typed as Result

    # -- sessions ---------------------------------------------------------------------

    def add_session(
        self, id_hash: str, user: str, csrf_hash: str, source: str, expires_at: datetime
    ) -> SessionRecord:
        """Store a new browser session; expired sessions are swept at the same time."""
        now = self._now()
        with self._transact("start the session", True) as session:
            session.execute(delete(UserSession).where(UserSession.expires_at <= now))
            row = UserSession(
                id_hash=id_hash,
                user=user,
                csrf_hash=csrf_hash,
                source=source,
                created_at=now,
                expires_at=as_utc(expires_at),
            )
            session.add(row)
            session.flush()
            return _session_record(row)

    def get_session(self, id_hash: str) -> SessionRecord | None:
        """The session with this cookie hash, or ``None``."""
        with self._transact("read a session", False) as session:
            row = session.get(UserSession, id_hash)
            return None if row is None else _session_record(row)

    def end_session(self, id_hash: str) -> bool:
        """Delete a session (log out); ``False`` if there was none."""
        with self._transact("end the session", True) as session:
            result = session.execute(delete(UserSession).where(UserSession.id_hash == id_hash))
            return bool(result.rowcount)  # type: ignore[attr-defined]  # execute() returns a CursorResult, typed as Result

    def sessions(self, user: str) -> Iterator[SessionRecord]:
        """A user's sessions (expired ones included until swept)."""
        with self._transact("read sessions", False) as session:
            rows = list(session.scalars(select(UserSession).where(UserSession.user == user)))
        return iter([_session_record(r) for r in rows])
