"""``patchwarden user`` and ``patchwarden token`` on a throw-away database, as a person runs them."""

from __future__ import annotations

import io
import json

import pytest

from patchwarden.cli.main import main
from patchwarden.service.identity import authenticate_token
from patchwarden.store import open_store, resolve_url

PW = "correct horse battery"


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_first_admin_from_stdin_then_a_token_that_authenticates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        capsys, monkeypatch, "user", "add", "alice", "--role", "admin", stdin=PW + "\n"
    )
    assert code == 0 and out.strip() == "user alice added: admin (all environments)"
    code, out, err = run(
        capsys, monkeypatch, "token", "create", "--user", "alice", "--role", "operator",
        "--env", "dev", "--expires", "30d", "--name", "ci",
    )  # fmt: skip
    assert code == 0
    secret = out.strip()
    assert secret.startswith("pwt_") and "shown only this once" in err and secret not in err
    import os
    from datetime import UTC, datetime

    with open_store(resolve_url(None, os.environ)) as store:
        grant = authenticate_token(store, secret, datetime.now(UTC))
    assert (grant.user, grant.role.value, grant.environments) == ("alice", "operator", ("dev",))
    code, out, _ = run(capsys, monkeypatch, "token", "list", "--format", "json")
    listed = json.loads(out)
    assert listed[0]["role"] == "operator" and listed[0]["revoked_at"] is None
    assert secret not in out and "secret" not in out
    code, out, _ = run(capsys, monkeypatch, "token", "revoke", listed[0]["id"])
    assert code == 0 and "revoked" in out
    code, out, _ = run(capsys, monkeypatch, "user", "list", "--format", "json")
    assert json.loads(out) == [
        {"name": "alice", "role": "admin", "environments": [], "disabled": False,
         "created_at": json.loads(out)[0]["created_at"]}
    ]  # fmt: skip
    assert "argon2" not in out


def test_there_is_no_password_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, monkeypatch, "user", "add", "alice", "--password", PW)
    assert code == 2 and "No such option" in err


def test_bad_input_exits_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, monkeypatch, "user", "add", "alice", stdin="")
    assert code == 2 and "no password on standard input" in err
    code, _, err = run(capsys, monkeypatch, "user", "add", "alice", "--role", "boss", stdin=PW)
    assert code == 2 and "no role 'boss'" in err
    code, _, err = run(capsys, monkeypatch, "token", "create", "--user", "ghost")
    assert code == 2 and "no user 'ghost'" in err
    code, out, _ = run(capsys, monkeypatch, "user", "list")
    assert out.strip() == "0 user(s)"
    code, out, _ = run(capsys, monkeypatch, "audit", "show")
    assert out.strip() == "0 entries"


def test_passwd_disable_enable_are_audited(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "root")
    run(capsys, monkeypatch, "user", "add", "bob", "--role", "approver", stdin=PW)
    assert run(capsys, monkeypatch, "user", "passwd", "bob", stdin=PW + "2")[0] == 0
    assert run(capsys, monkeypatch, "user", "disable", "bob")[0] == 0
    assert run(capsys, monkeypatch, "user", "enable", "bob")[0] == 0
    code, out, _ = run(
        capsys, monkeypatch, "audit", "show", "--object", "user:bob", "--format", "json"
    )
    entries = json.loads(out)
    assert [e["action"] for e in entries] == [
        "user.add",
        "user.passwd",
        "user.disable",
        "user.enable",
    ]
    assert {e["actor"] for e in entries} == {"root"}
    assert all(e["source"].startswith("cli root@") for e in entries)
    assert run(capsys, monkeypatch, "audit", "verify")[0] == 0
