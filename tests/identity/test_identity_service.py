"""Users, tokens, sessions and logins in the store: hashes only, scopes, expiry, throttling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from patchwarden.domain.identity import Role
from patchwarden.errors import UsageError
from patchwarden.service.audit import Actor
from patchwarden.service.identity import (
    LOGIN_FORM_LIFETIME,
    AccessDenied,
    LoginThrottle,
    LoginThrottled,
    add_user,
    authenticate_session,
    authenticate_token,
    check_csrf,
    check_login_form,
    create_token,
    disable_user,
    expiry_from,
    log_in,
    log_out,
    open_login_form,
    revoke_token,
    set_password,
)
from patchwarden.store import Store, open_store
from patchwarden.store.accounts import UserRecord

ADMIN = Actor("root", "cli")
PW = "correct horse battery"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'id.db'}") as opened:
        yield opened


def now() -> datetime:
    return datetime.now(UTC)


def dump(store: Store) -> str:
    """Every row of the identity tables as text: what an attacker with the file reads."""
    with store.engine.connect() as connection:
        rows = []
        for table in ("users", "api_tokens", "user_sessions", "login_forms", "audit_log"):
            rows += [repr(tuple(r)) for r in connection.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(rows)


def test_users_are_stored_with_argon2id_hashes_and_audited(store: Store) -> None:
    user = add_user(store, "alice", PW, "admin", [], ADMIN)
    assert isinstance(user, UserRecord)
    assert user.password_hash.startswith("$argon2id$") and PW not in dump(store)
    entry = store.audit.entries()[-1]
    assert (entry.actor, entry.action, entry.object_id, entry.source) == (
        "root", "user.add", "alice", "cli",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("Alice", PW, "admin", "user name 'Alice' is not allowed"),
        ("alice", "short", "admin", "too short"),
        ("alice", PW, "root", "no role 'root'; roles are viewer, operator, approver, admin"),
    ],
)
def test_bad_user_input_is_refused_and_changes_nothing(
    store: Store, name: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        add_user(store, name, password, role, [], ADMIN)
    assert store.accounts.users() == [] and store.audit.entries() == []


def test_a_name_cannot_be_taken_twice(store: Store) -> None:
    add_user(store, "alice", PW, "admin", [], ADMIN)
    with pytest.raises(UsageError, match="exists"):
        add_user(store, "alice", PW, "viewer", [], ADMIN)


def test_a_token_is_shown_once_stored_hashed_and_carries_its_scope(store: Store) -> None:
    add_user(store, "olga", PW, "operator", ["dev", "qa"], ADMIN)
    issued = create_token(store, "olga", "ci", "viewer", ["dev"], None, ADMIN)
    assert issued.secret.startswith(f"pwt_{issued.record.id}_")
    assert issued.secret.split("_", 2)[2] not in dump(store)
    grant = authenticate_token(store, issued.secret, now())
    assert (grant.user, grant.role, grant.environments) == ("olga", Role.VIEWER, ("dev",))
    assert grant.via == f"token {issued.record.id}"


def test_a_token_never_exceeds_its_user(store: Store) -> None:
    add_user(store, "olga", PW, "operator", ["dev", "qa"], ADMIN)
    with pytest.raises(UsageError, match="olga is operator; a token cannot be admin"):
        create_token(store, "olga", "", "admin", [], None, ADMIN)
    with pytest.raises(UsageError, match="cannot cover prod"):
        create_token(store, "olga", "", None, ["prod"], None, ADMIN)
    # The user's role is checked again at each use: lowering it lowers the token.
    issued = create_token(store, "olga", "", None, [], None, ADMIN)
    assert authenticate_token(store, issued.secret, now()).environments == ("dev", "qa")
    store.accounts.update_user("olga", role="viewer")
    assert authenticate_token(store, issued.secret, now()).role is Role.VIEWER


def test_revoked_expired_wrong_and_disabled_tokens_are_refused(store: Store) -> None:
    add_user(store, "alice", PW, "admin", [], ADMIN)
    t = now()
    expiring = create_token(store, "alice", "", None, [], t + timedelta(hours=1), ADMIN)
    assert authenticate_token(store, expiring.secret, t).user == "alice"
    with pytest.raises(AccessDenied, match="expired"):
        authenticate_token(store, expiring.secret, t + timedelta(hours=1))
    revoked = create_token(store, "alice", "", None, [], None, ADMIN)
    revoke_token(store, revoked.record.id, ADMIN)
    with pytest.raises(AccessDenied, match="revoked"):
        authenticate_token(store, revoked.secret, t)
    good = create_token(store, "alice", "", None, [], None, ADMIN)
    for bad in (
        good.secret[:-1] + ("A" if good.secret[-1] != "A" else "B"),
        "pwt_x_y",
        "",
        "Bearer",
    ):
        with pytest.raises(AccessDenied, match="unknown token"):
            authenticate_token(store, bad, t)
    disable_user(store, "alice", ADMIN)
    with pytest.raises(AccessDenied, match="disabled"):
        authenticate_token(store, good.secret, t)
    actions = [e.action for e in store.audit.entries()]
    assert actions.count("token.create") == 3 and "token.revoke" in actions
    assert "user.disable" in actions


def test_expiry_parsing() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry_from("12h", t) == t + timedelta(hours=12)
    assert expiry_from("2026-02-01T00:00Z", t) == datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="not in the future"):
        expiry_from("2025-01-01T00:00Z", t)
    with pytest.raises(UsageError, match="write a duration"):
        expiry_from("soon", t)


def test_sessions_need_the_right_password_and_csrf_token(store: Store) -> None:
    add_user(store, "bob", PW, "approver", [], ADMIN)
    throttle = LoginThrottle()
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        log_in(store, "bob", "wrong password!", "127.0.0.1", now(), throttle)
    with pytest.raises(AccessDenied, match="wrong user name or password"):
        log_in(store, "nobody", PW, "127.0.0.1", now(), throttle)
    issued = log_in(store, "bob", PW, "127.0.0.1", now(), throttle)
    assert issued.cookie not in dump(store) and issued.csrf not in dump(store)
    grant, session = authenticate_session(store, issued.cookie, now())
    assert (grant.user, grant.role, grant.via) == ("bob", Role.APPROVER, "session")
    check_csrf(session, issued.csrf)
    for bad in (None, "", issued.cookie):
        with pytest.raises(AccessDenied, match="CSRF"):
            check_csrf(session, bad)
    with pytest.raises(AccessDenied, match="expired"):
        authenticate_session(store, issued.cookie, now() + timedelta(hours=9))
    log_out(store, issued.cookie, Actor("bob", "127.0.0.1"))
    with pytest.raises(AccessDenied):
        authenticate_session(store, issued.cookie, now())
    actions = [(e.actor, e.action) for e in store.audit.entries()]
    assert ("bob", "login.failed") in actions and ("nobody", "login.failed") in actions
    assert ("bob", "login") in actions and ("bob", "logout") in actions


def test_a_new_password_or_disabling_ends_sessions(store: Store) -> None:
    add_user(store, "bob", PW, "approver", [], ADMIN)
    throttle = LoginThrottle()
    first = log_in(store, "bob", PW, "127.0.0.1", now(), throttle)
    set_password(store, "bob", PW + "!", ADMIN)
    with pytest.raises(AccessDenied):
        authenticate_session(store, first.cookie, now())
    with pytest.raises(AccessDenied):
        log_in(store, "bob", PW, "127.0.0.1", now(), throttle)
    second = log_in(store, "bob", PW + "!", "127.0.0.1", now(), throttle)
    disable_user(store, "bob", ADMIN)
    with pytest.raises(AccessDenied):
        authenticate_session(store, second.cookie, now())
    with pytest.raises(AccessDenied):
        log_in(store, "bob", PW + "!", "127.0.0.1", now(), throttle)


def test_logins_are_throttled_per_name_even_with_the_right_password(store: Store) -> None:
    add_user(store, "bob", PW, "approver", [], ADMIN)
    throttle = LoginThrottle(limit=3, window=timedelta(minutes=1))
    t = now()
    for _ in range(3):
        with pytest.raises(AccessDenied):
            log_in(store, "bob", "guess guess guess", "10.1.1.1", t, throttle)
    with pytest.raises(LoginThrottled, match="too many failed logins"):
        log_in(store, "bob", PW, "10.9.9.9", t, throttle)  # another address: the name counts
    assert log_in(store, "bob", PW, "10.9.9.9", t + timedelta(minutes=1), throttle)


def test_a_login_form_is_stored_hashed_and_used_once(store: Store) -> None:
    at = now()
    form = open_login_form(store, at)
    assert form.cookie not in dump(store) and form.token not in dump(store)
    check_login_form(store, form.cookie, form.token, at)
    with pytest.raises(AccessDenied, match="used already"):  # replayed
        check_login_form(store, form.cookie, form.token, at)
    # A wrong token uses the form up too: guessing gets one try per page.
    other = open_login_form(store, at)
    with pytest.raises(AccessDenied):
        check_login_form(store, other.cookie, "0" * 43, at)
    with pytest.raises(AccessDenied):
        check_login_form(store, other.cookie, other.token, at)
    # No cookie, or a form past its lifetime: refused.
    late = open_login_form(store, at)
    with pytest.raises(AccessDenied):
        check_login_form(store, None, late.token, at)
    with pytest.raises(AccessDenied):
        check_login_form(store, late.cookie, late.token, at + LOGIN_FORM_LIFETIME)
