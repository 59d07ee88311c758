"""The audit trail as a hash chain, and how to check it: pure, no storage.

Every change of state becomes an :class:`AuditEntry` whose ``hash`` covers its content and
the ``prev_hash`` of the entry before it (the first entry follows :data:`GENESIS`). Editing,
deleting, inserting or reordering entries therefore breaks a link somewhere, and
:func:`verify_chain` names the entry where it breaks and what most likely happened. The
sequence number is where an entry is stored, not part of what is hashed, so renumbering the
rows cannot hide a deletion, and swapping two rows shows up as a reordering.

A chain can still be cut at its end without breaking a link; an exported :class:`ChainHead`
(the last sequence number and hash, kept elsewhere) catches that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from patchwarden.domain.base import Value

__all__ = [
    "GENESIS",
    "AuditEntry",
    "ChainHead",
    "ChainProblem",
    "entry_hash",
    "verify_chain",
]

GENESIS = "0" * 64
"""What the first entry's ``prev_hash`` is."""


class AuditEntry(Value):
    """One change of state: who did what, when, from where, to which object (and its hash)."""

    seq: int = 0
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    object_hash: str = ""
    source: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and ``prev_hash`` (not ``seq``, not ``hash``).

    The content is serialised as canonical JSON (sorted keys, no spaces), with ``at`` in
    ISO 8601 UTC to the microsecond, so the same entry hashes the same on any machine.

    Example:
        >>> from datetime import UTC, datetime
        >>> e = AuditEntry(at=datetime(2026, 1, 1, tzinfo=UTC), actor="alice",
        ...                action="user.add", object_type="user", object_id="bob")
        >>> entry_hash(e)[:16]
        '...'
        >>> entry_hash(e) == entry_hash(e.model_copy(update={"seq": 9}))
        True
    """
    content: Mapping[str, Any] = {
        "prev": entry.prev_hash,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_hash": entry.object_hash,
        "source": entry.source,
        "details": entry.details,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ChainHead(Value):
    """The end of the chain at some moment, exported so a cut tail can be detected."""

    seq: int
    hash: str
    exported_at: datetime


class ChainProblem(Value):
    """One place where the chain does not hold, for a person to investigate."""

    seq: int
    kind: str
    """``edited``, ``deleted``, ``inserted``, ``reordered`` or ``truncated``."""
    message: str

    def __str__(self) -> str:
        return f"#{self.seq}: {self.kind}: {self.message}"


def verify_chain(
    entries: Sequence[AuditEntry], head: ChainHead | None = None
) -> list[ChainProblem]:
    """Every place where ``entries`` (in stored order) break the chain; empty if none.

    Rules, checked for each entry in order:

    * its hash does not match its content: it was **edited**;
    * it links to nothing that exists: an entry before it was **deleted** (or rewritten);
    * it links to the entry two back and the one in between is linked to by nobody: the one
      in between was **inserted**;
    * it links to an entry elsewhere in the chain: it was **reordered**;
    * ``head`` names an entry that is gone or hashes differently: the tail was **truncated**
      (or rewritten).

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> a = AuditEntry(seq=1, at=t, actor="a", action="x", object_type="o", object_id="1")
        >>> a = a.model_copy(update={"hash": entry_hash(a)})
        >>> verify_chain([a])
        []
        >>> [str(p) for p in verify_chain([a.model_copy(update={"actor": "mallory"})])]
        ['#1: edited: its content does not match its hash (changed after it was written)']
    """
    problems: dict[int, ChainProblem] = {}
    position = {e.hash: i for i, e in enumerate(entries)}
    referenced = {e.prev_hash for e in entries}

    def note(index: int, kind: str, message: str) -> None:
        seq = entries[index].seq
        if seq not in problems or kind == "inserted":
            problems[seq] = ChainProblem(seq=seq, kind=kind, message=message)

    for i, entry in enumerate(entries):
        if entry_hash(entry) != entry.hash:
            note(i, "edited", "its content does not match its hash (changed after it was written)")
            continue
        expected = entries[i - 1].hash if i else GENESIS
        if entry.prev_hash == expected:
            continue
        before = entries[i - 1].seq if i else None
        q = position.get(entry.prev_hash)
        if entry.prev_hash == GENESIS:
            note(i, "inserted", f"it claims to be the first entry but follows #{before}")
        elif q is None:
            if before is None:
                note(i, "deleted", "the entries before it are missing (the chain's start is gone)")
            elif entry.seq - before > 1:
                gap = f"#{before + 1}" + (f"..#{entry.seq - 1}" if entry.seq - before > 2 else "")
                note(i, "deleted", f"{gap} missing: it links to an entry that is gone")
            else:
                note(
                    i,
                    "deleted",
                    f"it links to an entry that is gone: one between #{before} and #{entry.seq} "
                    f"was deleted, or #{before} was rewritten",
                )
        elif q == i - 2 and entries[i - 1].hash not in referenced:
            note(
                i - 1,
                "inserted",
                f"no entry links to it; #{entry.seq} follows #{entries[q].seq} directly",
            )
        else:
            note(
                i, "reordered", f"it belongs after #{entries[q].seq}, but is stored after #{before}"
            )
    if head is not None:
        at = next((e for e in entries if e.seq == head.seq), None)
        if at is None:
            problems[head.seq] = ChainProblem(
                seq=head.seq,
                kind="truncated",
                message=f"the head exported at {head.exported_at.isoformat()} names this "
                "entry, which is gone: the tail of the trail was cut",
            )
        elif at.hash != head.hash:
            problems.setdefault(
                head.seq,
                ChainProblem(
                    seq=head.seq,
                    kind="truncated",
                    message="its hash differs from the exported head's: the tail was rewritten",
                ),
            )
    return [problems[s] for s in sorted(problems)]
