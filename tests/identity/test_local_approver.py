"""Approvals on this machine's command line: the login's patchwarden user, not a typed name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.domain.identity import Role
from patchwarden.errors import UsageError
from patchwarden.service.audit import Actor
from patchwarden.service.identity import AccessDenied, add_user, disable_user, local_approver
from patchwarden.store import Store, open_store

ADMIN = Actor("root", "cli")
PW = "correct horse battery"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'id.db'}") as opened:
        yield opened


def test_without_users_the_typed_name_stands_as_before(store: Store) -> None:
    assert local_approver(store, "alice", "bob", Role.APPROVER, fallback="erin") == "bob"
    assert local_approver(store, "alice", None, Role.APPROVER, fallback="erin") == "erin"
    with pytest.raises(UsageError, match="pass --as NAME"):
        local_approver(store, "alice", None, Role.APPROVER)


def test_with_users_the_login_acts_and_a_typed_name_is_refused(store: Store) -> None:
    add_user(store, "bob", PW, "approver", (), ADMIN)
    add_user(store, "otto", PW, "operator", (), ADMIN)
    assert local_approver(store, "bob", None, Role.APPROVER) == "bob"
    assert local_approver(store, "bob", "bob", Role.APPROVER) == "bob"
    with pytest.raises(AccessDenied, match="a typed name proves nothing"):
        local_approver(store, "otto", "bob", Role.APPROVER)
    with pytest.raises(AccessDenied, match="this needs the approver role"):
        local_approver(store, "otto", None, Role.APPROVER)
    with pytest.raises(AccessDenied, match="no enabled patchwarden user"):
        local_approver(store, "mallory", None, Role.APPROVER)
    disable_user(store, "bob", ADMIN)
    with pytest.raises(AccessDenied, match="no enabled patchwarden user"):
        local_approver(store, "bob", None, Role.APPROVER)
