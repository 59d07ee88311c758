"""The lab hosts' service manager: systemd units run by the lab controller, one cgroup each.

A lab host is a chroot, so nothing inside it can start daemons the way systemd does. The
controller does it for them: a unit is a file ``<name>.service`` under ``/etc/systemd/system``
or ``/lib/systemd/system`` of the host's root, and its ``ExecStart=`` (an argument vector,
never run through a shell) is started chrooted into that root. Each unit's processes are put
in a cgroup whose path ends in ``system.slice/<name>.service``, as systemd names them, so tools
that find a process's unit from ``/proc/PID/cgroup`` (``needrestart``) name it correctly. Units
run in the host's PID namespace (``nsenter`` into its sshd's), so they appear in the host's
own ``/proc``. The host's ``/run/systemd/system`` exists while it is up, the sign of a
systemd host.

Inside the host, ``systemctl`` is the lab's script (:data:`~patchwarden.testing.lab_image.
SYSTEMCTL_SCRIPT`): ``enable`` and ``disable`` link the unit into
``multi-user.target.wants`` (started at every boot of the host), ``start``, ``stop`` and
``restart`` write a request under ``/run/lab-systemd/requests`` that :meth:`Units.serve`
answers with an exit status; ``/run/lab-systemd/active/<unit>`` holds a running unit's pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
import signal
from pathlib import Path

__all__ = ["Units", "cgroup_root", "first_child"]

UNIT_DIRS = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")
WANTS = "etc/systemd/system/multi-user.target.wants"
_STOP_S = 5.0


def cgroup_root() -> Path | None:
    """Where the lab's unit cgroups go: systemd's named v1 hierarchy, or cgroup v2.

    ``None`` when neither is mounted (units then run, but tools cannot name them).
    """
    named, unified = None, None
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 4:
                continue
            if fields[2] == "cgroup" and "name=systemd" in fields[3].split(","):
                named = named or Path(fields[1])
            elif fields[2] == "cgroup2":
                unified = unified or Path(fields[1])
    return named or unified


class Units:
    """The units of one lab host: started, stopped and restarted on request."""

    def __init__(self, host_id: str, root: Path, host_dir: Path) -> None:
        self.host_id = host_id
        self.root = root
        self.log = host_dir / "units.log"
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.namespace_pid: int | None = None
        """A process in the host's PID namespace (its sshd), which units join."""
        base = cgroup_root()
        tag = hashlib.sha256(str(host_dir.resolve()).encode()).hexdigest()[:8]
        self.cgroups = None if base is None else base / "patchwarden-lab" / f"{host_id}-{tag}"

    @property
    def run_dir(self) -> Path:
        """``/run/lab-systemd`` of the host."""
        return self.root / "run" / "lab-systemd"

    async def boot(self) -> None:
        """Mark the host as a systemd host and start its enabled long-running units."""
        (self.root / "run" / "systemd" / "system").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "requests").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "active").mkdir(parents=True, exist_ok=True)
        wants = self.root / WANTS
        if not wants.is_dir():
            return
        for link in sorted(wants.iterdir()):
            path = self._unit_file(link.name)
            # Long-running services only: a oneshot unit (minbase enables e2scrub_reap)
            # has nothing to do in a lab host, and the lab tracks no units that exit.
            if path is not None and _service_setting(path.read_text(), "Type") == "oneshot":
                continue
            await self._start(link.name)

    async def serve(self) -> None:
        """Answer the requests ``systemctl`` left in the host's ``/run/lab-systemd``."""
        requests = self.run_dir / "requests"
        if not requests.is_dir():
            return
        for ask in sorted(requests.glob("*.req")):
            words = ask.read_text().split()
            ask.unlink(missing_ok=True)
            status, message = await self._carry_out(words[0], words[1:]) if words else (1, "")
            done = ask.with_suffix(".partial")
            done.write_text(f"{status}\n{message}")
            done.rename(ask.with_suffix(".done"))

    async def shut_down(self) -> None:
        """Stop every unit (a reboot or power cut kills the rest of the host anyway)."""
        for unit in list(self.processes):
            await self._stop(unit)
        if self.cgroups is not None and self.cgroups.is_dir():
            # Deepest first; a cgroup still holding a process stays (rmdir refuses it).
            for group in sorted(self.cgroups.rglob("*.service"), reverse=True):
                with contextlib.suppress(OSError):
                    group.rmdir()
            for group in (self.cgroups / "system.slice", self.cgroups):
                with contextlib.suppress(OSError):
                    group.rmdir()

    async def _carry_out(self, verb: str, units: list[str]) -> tuple[int, str]:
        for unit in units:
            if self._unit_file(unit) is None:
                return 5, f"Unit {unit} not found.\n"
        for unit in units:
            if verb == "stop" or verb in ("restart", "try-restart", "reload-or-restart"):
                was_running = unit in self.processes
                await self._stop(unit)
                if verb == "try-restart" and not was_running:
                    continue
            if verb != "stop":
                problem = await self._start(unit)
                if problem:
                    return 1, problem
        return 0, ""

    def _unit_file(self, unit: str) -> Path | None:
        if "/" in unit or not unit.endswith(".service"):
            return None
        for directory in UNIT_DIRS:
            path = self.root / directory / unit
            if path.is_file():
                return path
        return None

    async def _start(self, unit: str) -> str:
        """Start ``unit`` unless it runs; returns what went wrong, or ``""``."""
        running = self.processes.get(unit)
        if running is not None and running.returncode is None:
            return ""
        path = self._unit_file(unit)
        if path is None:
            return f"Unit {unit} not found.\n"
        argv = _exec_start(path.read_text())
        if not argv:
            return f"{unit}: no ExecStart=\n"
        enter = ("nsenter", f"--target={self.namespace_pid}", "--pid")
        group = self._cgroup(unit)
        with open(self.log, "ab") as log:
            # nsenter forks the unit's process into the namespace: it joins the unit's
            # cgroup first (in the child, before exec), so everything it starts is in it.
            process = await asyncio.create_subprocess_exec(
                *(enter if self.namespace_pid else ()), "chroot", str(self.root), *argv,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                start_new_session=True,
                preexec_fn=None if group is None else lambda: _join(group),
            )  # fmt: skip
        self.processes[unit] = process
        (self.run_dir / "active").mkdir(parents=True, exist_ok=True)
        # Seen from outside the namespace, the unit's own process is nsenter's child.
        child = await first_child(process.pid, 5.0) if self.namespace_pid else None
        main = child or process.pid
        (self.run_dir / "active" / unit).write_text(f"{main}\n")
        return ""

    async def _stop(self, unit: str) -> None:
        process = self.processes.pop(unit, None)
        active = self.run_dir / "active" / unit
        main = _active_pid(active)
        active.unlink(missing_ok=True)
        if process is None or process.returncode is not None:
            return
        # nsenter waits for its child, the unit's process: stopping that ends both.
        with contextlib.suppress(ProcessLookupError):
            os.kill(main or process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_S)
        except TimeoutError:
            for pid in (p for p in (main, process.pid) if p):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await process.wait()

    def _cgroup(self, unit: str) -> Path | None:
        if self.cgroups is None:
            return None
        group = self.cgroups / "system.slice" / unit
        try:
            group.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return group


def _join(group: Path) -> None:
    """Move the calling process into ``group`` (run in the child before it execs)."""
    with open(group / "cgroup.procs", "w") as procs:
        procs.write("0\n")


async def first_child(pid: int, timeout_s: float = 10.0) -> int | None:
    """The first child of ``pid`` once it exists; ``None`` on timeout or if ``pid`` ended.

    ``pid`` may end before a child is seen: a unit whose process exits at once.

    ``unshare``'s child is its namespace's init; ``nsenter``'s is the unit's own process.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (found := _children_of(pid)):
        if loop.time() > deadline or not _running(pid):
            return None
        await asyncio.sleep(0.02)
    return found[0]


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from each process's ``stat``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                # The command name may hold spaces and parentheses: fields follow the last ')'.
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _exec_start(unit_text: str) -> list[str]:
    r"""The ``ExecStart=`` vector of a unit file's ``[Service]`` section.

    Example:
        >>> _exec_start("[Service]\nType=simple\nExecStart=/usr/sbin/pw-daemon -f\n")
        ['/usr/sbin/pw-daemon', '-f']
    """
    return shlex.split(_service_setting(unit_text, "ExecStart").lstrip("-@+!"))


def _service_setting(unit_text: str, key: str) -> str:
    r"""The first value of ``key`` in a unit file's ``[Service]`` section, or ``""``.

    Example:
        >>> _service_setting("[Unit]\nType=x\n[Service]\nType=oneshot\n", "Type")
        'oneshot'
        >>> _service_setting("[Service]\nExecStart=/bin/true\n", "Type")
        ''
    """
    section = ""
    for line in unit_text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and line.startswith(f"{key}="):
            return line.removeprefix(f"{key}=").strip()
    return ""


def _active_pid(path: Path) -> int | None:
    """The pid an ``active`` file holds, or ``None``."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None
