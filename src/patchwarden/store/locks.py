"""Writers that must take turns: one lock per kind of write, held to the end of the transaction.

SQLite needs none of this: every write transaction begins ``IMMEDIATE`` and so runs alone.
PostgreSQL runs writers side by side (READ COMMITTED), so a write that reads before it
writes (the audit chain's next link, the inventory snapshot's difference, the advisories'
upsert) first takes a transaction-level advisory lock named for what it writes; a second
writer of the same kind waits for the first to commit, then reads what it wrote.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

__all__ = ["lock_key", "take_turn"]

_TAKE = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL's advisory locks take a bigint).

    >>> lock_key("audit") == lock_key("audit") != lock_key("inventory")
    True
    >>> -(2**63) <= lock_key("audit") < 2**63
    True
    """
    digest = hashlib.sha256(f"patchwarden:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def take_turn(session: Session | Connection, name: str) -> None:
    """Wait until no other transaction writes ``name``; held until this one ends."""
    bind = session.get_bind() if isinstance(session, Session) else session
    if bind.dialect.name == "postgresql":
        session.execute(_TAKE, {"key": lock_key(name)})
