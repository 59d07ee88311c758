"""The audit hash chain: each kind of tampering is detected and named, in pure code and in SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from patchwarden.cli.main import main
from patchwarden.domain.audit import GENESIS, AuditEntry, ChainHead, entry_hash, verify_chain
from patchwarden.service.audit import Actor, AuditChainBroken, record, verify_trail
from patchwarden.store import Store, open_store
from patchwarden.store.audit import AuditFilter

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        e = AuditEntry(
            seq=i, at=T + timedelta(minutes=i), actor="alice", action="change.submit",
            object_type="change", object_id=str(i), prev_hash=prev,
        )  # fmt: skip
        e = e.model_copy(update={"hash": entry_hash(e)})
        out.append(e)
        prev = e.hash
    return out


def kinds(problems: list) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in problems]


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(chain(6)) == []
    assert verify_chain([]) == []


def test_an_edited_entry_is_named() -> None:
    entries = chain(5)
    entries[2] = entries[2].model_copy(update={"actor": "mallory"})
    assert kinds(verify_chain(entries)) == [(3, "edited")]


def test_an_edited_entry_with_its_hash_recomputed_breaks_the_next_link() -> None:
    entries = chain(5)
    forged = entries[2].model_copy(update={"actor": "mallory"})
    entries[2] = forged.model_copy(update={"hash": entry_hash(forged)})
    problems = verify_chain(entries)
    assert kinds(problems) == [(4, "deleted")]
    assert "#3 was rewritten" in problems[0].message


def test_a_deleted_entry_is_named_by_the_gap() -> None:
    entries = chain(5)
    del entries[2]
    problems = verify_chain(entries)
    assert kinds(problems) == [(4, "deleted")]
    assert problems[0].message.startswith("#3 missing")


def test_a_deleted_entry_with_the_rest_renumbered_is_still_found() -> None:
    entries = chain(5)
    del entries[2]
    entries = [e.model_copy(update={"seq": i + 1}) for i, e in enumerate(entries)]
    assert kinds(verify_chain(entries)) == [(3, "deleted")]


def test_the_first_entries_deleted() -> None:
    assert kinds(verify_chain(chain(4)[2:])) == [(3, "deleted")]


def test_an_inserted_entry_is_named_even_with_a_valid_hash() -> None:
    entries = chain(4)
    forged = AuditEntry(
        seq=99, at=T, actor="mallory", action="change.approve", object_type="change",
        object_id="2", prev_hash=entries[1].hash,
    )  # fmt: skip
    forged = forged.model_copy(update={"hash": entry_hash(forged)})
    entries.insert(2, forged)
    assert kinds(verify_chain(entries)) == [(99, "inserted")]


def test_an_inserted_entry_with_a_made_up_link_is_named_inserted() -> None:
    entries = chain(4)
    forged = AuditEntry(
        seq=99, at=T, actor="mallory", action="x", object_type="change", object_id="2",
        prev_hash="f" * 64,
    )  # fmt: skip
    entries.insert(2, forged.model_copy(update={"hash": entry_hash(forged)}))
    assert (99, "inserted") in kinds(verify_chain(entries))


def test_swapped_entries_are_reported_as_reordered() -> None:
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    problems = verify_chain(entries)
    assert {p.kind for p in problems} == {"reordered"}
    assert 3 in {p.seq for p in problems} and 2 in {p.seq for p in problems}


def test_a_cut_tail_is_caught_only_with_the_exported_head() -> None:
    entries = chain(5)
    head = ChainHead(seq=5, hash=entries[-1].hash, exported_at=T)
    assert verify_chain(entries, head) == []
    assert verify_chain(entries[:3]) == []  # without a head the cut cannot be seen
    assert kinds(verify_chain(entries[:3], head)) == [(5, "truncated")]


# -- against a real database: the rows edited with SQL behind the store's back ---------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A trail of five entries, on each database the store runs on."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with open_store(url) as opened:
        for i in range(1, 6):
            record(
                opened, Actor("alice", "cli"), "change.submit", "change", str(i),
                object_hash=f"{i:064x}", details={"n": i},
            )  # fmt: skip
        yield opened


def sql(store: Store, statement: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(statement))


def test_the_store_appends_a_chain_that_verifies(store: Store) -> None:
    entries = store.audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert verify_trail(store).entries == 5


def test_filters(store: Store) -> None:
    record(store, Actor("bob", "api 127.0.0.1"), "change.approve", "change", "2")
    assert [e.seq for e in store.audit.entries(AuditFilter(actor="bob"))] == [6]
    assert len(store.audit.entries(AuditFilter(action="change."))) == 6
    assert [
        e.seq for e in store.audit.entries(AuditFilter(object_type="change", object_id="2"))
    ] == [2, 6]
    later = store.audit.entries()[-1].at
    assert [e.seq for e in store.audit.entries(AuditFilter(since=later))] == [6]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", [(3, "edited")]),
        ("UPDATE audit_log SET details = '{\"n\": 30}' WHERE seq = 3", [(3, "edited")]),
        ("DELETE FROM audit_log WHERE seq = 2", [(3, "deleted")]),
        ("SWAP 2 3", "reordered"),
    ],
)
def test_tampering_with_sql_is_detected(store: Store, statement: str, expected: object) -> None:
    if statement == "SWAP 2 3":  # through a free number: the primary key forbids a clash
        sql(store, "UPDATE audit_log SET seq = 100 WHERE seq = 2")
        sql(store, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
        sql(store, "UPDATE audit_log SET seq = 3 WHERE seq = 100")
    else:
        sql(store, statement)
    with pytest.raises(AuditChainBroken) as caught:
        verify_trail(store)
    found = kinds(caught.value.problems)
    if expected == "reordered":
        assert {k for _, k in found} == {"reordered"}
    else:
        assert found == expected


def test_an_inserted_row_is_detected(store: Store) -> None:
    entries = store.audit.entries()
    forged = AuditEntry(
        seq=0, at=T, actor="mallory", action="change.approve", object_type="change",
        object_id="1", prev_hash=entries[1].hash,
    )  # fmt: skip
    forged = forged.model_copy(update={"hash": entry_hash(forged)})
    # Make room after #2 and put the forged entry there.
    for seq in (5, 4, 3):
        sql(store, f"UPDATE audit_log SET seq = {seq + 1} WHERE seq = {seq}")
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, "
                "object_hash, source, details, prev_hash, hash) VALUES (3, :at, 'mallory', "
                "'change.approve', 'change', '1', '', '', '{}', :prev, :hash)"
            ),
            {"at": T.replace(tzinfo=None), "prev": forged.prev_hash, "hash": forged.hash},
        )
    with pytest.raises(AuditChainBroken) as caught:
        verify_trail(store)
    assert kinds(caught.value.problems) == [(3, "inserted")]


def test_cli_verify_names_the_edited_entry_and_exits_1(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(store.engine.url)
    assert main(["audit", "verify", "--db", db]) == 0
    assert "audit trail ok: 5 entries, head #5" in capsys.readouterr().out
    head = tmp_path / "head.json"
    assert main(["audit", "head", "--out", str(head), "--db", db]) == 0
    assert json.loads(head.read_text())["seq"] == 5
    capsys.readouterr()
    sql(store, "UPDATE audit_log SET object_hash = 'abc' WHERE seq = 4")
    assert main(["audit", "verify", "--db", db]) == 1
    err = capsys.readouterr().err
    assert "#4: edited" in err


def test_cli_verify_with_a_head_catches_a_cut_tail(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(store.engine.url)
    head = tmp_path / "head.json"
    assert main(["audit", "head", "--out", str(head), "--db", db]) == 0
    sql(store, "DELETE FROM audit_log WHERE seq >= 4")
    assert main(["audit", "verify", "--db", db]) == 0  # the rest still links up
    assert main(["audit", "verify", "--db", db, "--head", str(head)]) == 1
    assert "#5: truncated" in capsys.readouterr().err


def test_cli_verify_refuses_a_file_that_is_not_a_head(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "head.json"
    bad.write_text('{"seq": "x"}')
    assert main(["audit", "verify", "--db", str(store.engine.url), "--head", str(bad)]) == 2
    assert "not an audit head" in capsys.readouterr().err


def test_cli_show_filters_and_json(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(store.engine.url)
    record(store, Actor("bob", "api 127.0.0.1"), "change.approve", "change", "2")
    assert main(["audit", "show", "--db", db, "--actor", "bob"]) == 0
    out = capsys.readouterr().out
    assert "change.approve" in out and "api 127.0.0.1" in out and out.rstrip().endswith("1 entry")
    assert main(["audit", "show", "--db", db, "--object", "change:2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["seq"] for d in data] == [2, 6]
