"""One copy of a lab per directory, shared by every fixture that asks for it.

Labs are slow to build, so fixtures in several test modules share one: the first user brings it
up, the last one to leave takes it down. A lock file under ``/run/lock`` keeps two test
processes from running the same lab at once.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["SharedLabs"]

T = TypeVar("T")


class SharedLabs(Generic[T]):
    """Labs counted by their users, one per directory.

    ``use``'s ``start`` builds the lab and must leave nothing running if it fails; ``stop``
    takes it down. The lock file is held from the first user's ``start`` to the last user's
    ``stop``.

    Example:
        >>> import tempfile
        >>> events = []
        >>> labs = SharedLabs(
        ...     "doctest", stop=lambda lab: events.append("down"),
        ...     lock_dir=Path(tempfile.mkdtemp()))
        >>> start = lambda: events.append("up") or "a"
        >>> with labs.use(Path("/x/a"), start) as one, labs.use(Path("/x/a"), start) as two:
        ...     (one, two, events)
        ('a', 'a', ['up'])
        >>> events
        ['up', 'down']
    """

    def __init__(
        self,
        lock_prefix: str,
        stop: Callable[[T], None],
        lock_dir: Path = Path("/run/lock"),
    ) -> None:
        self._lock_prefix = lock_prefix
        self._stop = stop
        self._lock_dir = lock_dir
        self._guard = threading.Lock()
        self._labs: dict[Path, tuple[T, int, Any]] = {}

    @contextmanager
    def use(self, directory: Path, start: Callable[[], T]) -> Iterator[T]:
        """The lab for ``directory``: up if no one uses it yet, down when the last user leaves."""
        with self._guard:
            entry = self._labs.get(directory)
            if entry is None:
                self._lock_dir.mkdir(parents=True, exist_ok=True)
                lock_path = self._lock_dir / f"{self._lock_prefix}-{directory.name}.lock"
                lock = open(lock_path, "w")  # noqa: SIM115 - held for the lab's lifetime
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    lab = start()
                except BaseException:
                    lock.close()
                    raise
                entry = (lab, 0, lock)
            lab, users, lock = entry
            self._labs[directory] = (lab, users + 1, lock)
        try:
            yield lab
        finally:
            with self._guard:
                lab, users, lock = self._labs[directory]
                if users > 1:
                    self._labs[directory] = (lab, users - 1, lock)
                else:
                    del self._labs[directory]
                    try:
                        self._stop(lab)
                    finally:
                        lock.close()
