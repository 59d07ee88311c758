"""The audit trail's use cases: record a change of state, verify the chain, export its head.

:func:`record` is what every service function calls after it changed state: who (an
:class:`Actor`: a name and where the request came from), what (an action such as
``change.approve``), which object (type, id, and the object's content hash where it has
one, such as a plan hash). :func:`verify_trail` checks the whole chain, and against an
exported head when one is given, so a cut tail is detected too.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from patchwarden.domain.audit import AuditEntry, ChainHead, ChainProblem, verify_chain
from patchwarden.errors import PatchwardenError, UsageError
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter, AuditNote

__all__ = [
    "Actor",
    "AuditChainBroken",
    "AuditFilter",
    "TrailReport",
    "cli_actor",
    "export_head",
    "local_actor",
    "note",
    "read_head",
    "record",
    "verify_trail",
]


class AuditChainBroken(PatchwardenError):
    """The audit trail does not verify: an entry was edited, deleted, inserted or moved."""

    def __init__(self, problems: list[ChainProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where (``cli alice@host``, ``api 127.0.0.1``)."""

    name: str
    source: str = ""


def cli_actor(name: str) -> Actor:
    """The actor of a command run on this machine: the name, and ``cli`` with the host."""
    login = os.environ.get("USER") or os.environ.get("LOGNAME") or "?"
    return Actor(name, f"cli {login}@{socket.gethostname()}")


def local_actor() -> Actor:
    """Whoever runs this process on this machine: the login name, ``local`` and the host.

    For work no person named (an import, a scan, an assessment run by a timer).
    """
    login = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
    return Actor(login, f"local {socket.gethostname()}")


def record(
    store: Store,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    *,
    object_hash: str = "",
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one change of state to the audit trail; returns the stored entry."""
    return store.audit.append(
        actor.name,
        action,
        object_type,
        object_id,
        object_hash=object_hash,
        source=actor.source,
        details=details,
        at=at,
    )


def note(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    *,
    object_hash: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditNote:
    """An entry for a store method to append in the transaction of the change it records.

    Example:
        >>> note(Actor("bob", "api 127.0.0.1"), "run.pause", "run", "r1").source
        'api 127.0.0.1'
    """
    return AuditNote(actor.name, action, object_type, object_id, object_hash, actor.source, details)


@dataclass(frozen=True)
class TrailReport:
    """What :func:`verify_trail` found: how many entries, the last one, no problems."""

    entries: int
    head: AuditEntry | None


def verify_trail(store: Store, head: ChainHead | None = None) -> TrailReport:
    """Check every link of the chain, and that ``head`` (exported earlier) is still there.

    Raises:
        AuditChainBroken: one problem per broken place, naming the entry.
    """
    entries = store.audit.entries()
    problems = verify_chain(entries, head)
    if problems:
        raise AuditChainBroken(problems)
    return TrailReport(len(entries), entries[-1] if entries else None)


def export_head(store: Store, path: Path, now: datetime) -> ChainHead:
    """Write the chain's head (last seq and hash) to ``path`` as JSON, atomically.

    Keep the file where the database's writers cannot change it (another machine, the
    evidence store): a later :func:`verify_trail` with it detects a cut tail.

    Raises:
        UsageError: the trail is empty, or the file cannot be written.
    """
    last = store.audit.last()
    if last is None:
        raise UsageError("the audit trail is empty; there is no head to export")
    head = ChainHead(seq=last.seq, hash=last.hash, exported_at=now)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(head.model_dump(mode="json"), indent=2) + "\n")
        partial.replace(path)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from error
    return head


def read_head(path: Path) -> ChainHead:
    """Read a head exported by :func:`export_head`.

    Raises:
        UsageError: the file is missing or is not a head.
    """
    try:
        return ChainHead.model_validate_json(path.read_bytes())
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from error
    except ValidationError as error:
        raise UsageError(
            f"{path}: not an audit head ({error.error_count()} problem(s)); write one with "
            "`patchwarden audit head --out FILE`"
        ) from error
