"""One runner per run: a lease in the store, renewed while the runner works.

Two ``apply``/``resume`` processes on the same run would both start its next step. So a
process takes the run's lease before it drives the run, renews it from a background thread
while it works, and releases it when it stops. Another process is refused
(:class:`~patchwarden.errors.RunBusy`) while the lease is valid; it takes the run over once
the lease expired (a holder that hangs or lost the database), or at once when the holder
ran on this machine and its process is gone (``kill -9``): waiting out the expiry then
would only delay the resume a supervisor starts after a crash.

A holder that finds its lease taken (it stalled past the expiry) starts no new step and
leaves the run's state to the new holder.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from patchwarden.errors import RunBusy, StoreError
from patchwarden.store import LeaseRecord, Store

__all__ = ["DEFAULT_TTL_S", "Lease", "holder_name", "take_run"]

DEFAULT_TTL_S = 30.0
"""How long a lease lasts without renewal; the holder renews it every third of that."""


def holder_name(user: str) -> str:
    """Who holds a lease, for people and for the same-machine check: ``user@host:pid:nonce``."""
    return f"{user}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _gone(holder: str) -> bool:
    """Whether ``holder`` ran on this machine and its process no longer exists."""
    try:
        where, pid_text, _ = holder.rsplit(":", 2)
        host = where.rsplit("@", 1)[1]
        pid = int(pid_text)
    except (ValueError, IndexError):
        return False  # not a name this module wrote: wait for the expiry
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    # A killed process its parent has not reaped yet is a zombie: it runs nothing.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lease:
    """A held lease; renewed from a thread until :meth:`release`."""

    store: Store
    run_id: str
    holder: str
    ttl: timedelta
    clock: Callable[[], datetime] = _utcnow
    _stop: threading.Event = field(default_factory=threading.Event)
    _lost: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Renew the lease every third of its lifetime until released."""
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            try:
                kept = self.store.renew_lease(self.run_id, self.holder, self.clock() + self.ttl)
            except StoreError:
                continue  # a busy or lost database: try again; the expiry decides
            if not kept:
                self._lost.set()
                return

    def lost(self) -> bool:
        """Another process took the run over (this one stalled past the expiry)."""
        return self._lost.is_set()

    def release(self) -> None:
        """Stop renewing and give the run up (if this process still holds it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost():
            self.store.release_lease(self.run_id, self.holder)


def take_run(
    store: Store,
    run_id: str,
    user: str,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    clock: Callable[[], datetime] = _utcnow,
) -> Lease:
    """Take the run's lease and start renewing it.

    Raises:
        RunBusy: another process holds a valid lease; the message says who and until when.
    """
    holder = holder_name(user)
    ttl = timedelta(seconds=ttl_s)
    now = clock()
    current = store.lease(run_id)
    take_over = current.holder if current is not None and _gone(current.holder) else None
    lease = store.take_lease(run_id, holder, now, now + ttl, take_over=take_over)
    if lease.holder != holder:
        raise RunBusy(_busy(run_id, lease, now))
    held = Lease(store, run_id, holder, ttl, clock)
    held.start()
    return held


def _busy(run_id: str, lease: LeaseRecord, now: datetime) -> str:
    left = max(0, round((lease.expires_at - now).total_seconds()))
    return (
        f"run {run_id} is being driven by {lease.holder} (lease valid for {left} s more); "
        "one runner per run: wait for it to finish, or `patchwarden pause` it"
    )
