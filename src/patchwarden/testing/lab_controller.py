"""The lab controller: one process that runs every lab host's sshd and service, and reboots.

Started detached by ``patchwarden lab up`` (or the test fixture) as
``python -m patchwarden.testing.lab_controller LAB_DIR``; stopped with SIGTERM.

Per host it runs ``sshd -D -f hosts/<id>/sshd_config`` (chrooted into the host's root), the
host's enabled systemd units (:mod:`patchwarden.testing.lab_units`) and the ``pw-web`` HTTP
service on ``<address>:<http_port>``, whose health reads
``/usr/share/pw-web/status`` inside the root, so it follows what apt installed there. A
status line may also ask for a misbehaving build that its health check does not notice:
``delay_ms=N`` adds N ms to every page (not to ``/healthz``), ``fail_pct=P`` answers P % of
pages with a 500 — what only a canary analysis of real traffic catches.

A reboot is asked for from inside the host (``/usr/local/sbin/lab-reboot`` writes
``/run/lab-reboot-request``). The controller then does what a reboot does to the outside:
every process of the host dies (sshd, its sessions), the service stops, ``/run`` is emptied
(it is a tmpfs on real hosts), and after a pause the host comes back with a new boot id. A
host flagged ``never-returns`` stays down until ``power-on`` is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchwarden.testing.lab_image import mount_root, write_boot_id
from patchwarden.testing.lab_units import Units, first_child

__all__ = [
    "HostSpec",
    "kill_if_cmdline_has",
    "main",
    "process_alive",
    "processes_rooted_in",
]

POLL_S = 0.1
STATUS_FILE = "usr/share/pw-web/status"


@dataclass(frozen=True)
class HostSpec:
    """One lab host, as ``lab.json`` records it."""

    id: str
    address: str
    ssh_port: int
    http_port: int
    dir: Path

    @property
    def root(self) -> Path:
        """The host's root file system (its sshd's ChrootDirectory)."""
        return self.dir / "root"

    @property
    def sshd_config(self) -> Path:
        """The host's sshd configuration."""
        return self.dir / "sshd_config"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.__dict__, "dir": str(self.dir)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostSpec:
        """Read what :meth:`to_json` wrote."""
        return cls(
            data["id"], data["address"], data["ssh_port"], data["http_port"], Path(data["dir"])
        )


def processes_rooted_in(root: Path) -> list[int]:
    """Pids of processes whose root directory is ``root``: every process of a lab host."""
    wanted = str(root.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "root") == wanted:
                found.append(int(entry.name))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours is dead for our purpose.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_if_cmdline_has(pid: int, marker: str) -> None:
    """SIGKILL ``pid`` if its command line contains ``marker``: never a stranger's process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if marker in cmdline:
        _kill([pid])


def _status_setting(status: str, name: str) -> int:
    """``name=N`` from a pw-web status line, or 0."""
    for word in status.split():
        key, _, value = word.partition("=")
        if key == name and value.isdigit():
            return int(value)
    return 0


class HostRuntime:
    """The running parts of one lab host."""

    def __init__(self, spec: HostSpec, latency_s: float) -> None:
        self.spec = spec
        self.latency_s = latency_s
        self.sshd: asyncio.subprocess.Process | None = None
        self.server: asyncio.Server | None = None
        self.clients: set[asyncio.StreamWriter] = set()
        self.state = "down"
        self.pages = 0
        self.units = Units(spec.id, spec.root, spec.dir)

    def _set_state(self, state: str) -> None:
        self.state = state
        (self.spec.dir / "state").write_text(f"{state}\n")

    async def start(self) -> None:
        """Start sshd and the service."""
        log = open(self.spec.dir / "sshd.log", "ab")  # noqa: SIM115 - the child keeps it open
        # Each host is its own PID namespace, with its own /proc in its root: what runs on
        # the host (its sessions, its units) sees its own processes only, as on a real
        # host, and ps or needrestart there never see another host's. The namespace ends
        # with its sshd (unshare --kill-child), and everything in it with it.
        self.sshd = await asyncio.create_subprocess_exec(
            "unshare", "--pid", "--fork", "--kill-child", f"--mount-proc={self.spec.root}/proc",
            "/usr/sbin/sshd", "-D", "-e", "-f", str(self.spec.sshd_config),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        (self.spec.dir / "sshd.pid").write_text(f"{self.sshd.pid}\n")
        init = await first_child(self.sshd.pid)
        if init is None:
            raise RuntimeError(f"unshare ({self.sshd.pid}) started no sshd for {self.spec.id}")
        self.units.namespace_pid = init
        self.server = await asyncio.start_server(
            self._serve, self.spec.address, self.spec.http_port, reuse_address=True
        )
        await self.units.boot()
        self._set_state("up")

    async def stop(self, state: str = "down") -> None:
        """Stop everything of this host, as a power cut would."""
        self._set_state(state)
        await self.units.shut_down()
        if self.server is not None:
            self.server.close()
            for writer in list(self.clients):
                writer.close()
            self.server = None
        if self.sshd is not None:
            # unshare waits for its child with SIGTERM blocked, so the namespace is ended
            # through its init, the host's sshd: when it exits, the kernel kills everything
            # else in the namespace (the host's sessions) and unshare returns.
            init = self.units.namespace_pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(init or self.sshd.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.sshd.wait(), 5)
            except TimeoutError:
                self.sshd.kill()
                await self.sshd.wait()
            self.units.namespace_pid = None
            self.sshd = None
        _kill(processes_rooted_in(self.spec.root))

    async def reboot(self, pause_s: float) -> None:
        """Go down, empty /run, pause, come back with a new boot id (unless doomed)."""
        await self.stop("rebooting")
        run = self.spec.root / "run"
        for entry in run.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        await asyncio.sleep(pause_s)
        if (self.spec.dir / "never-returns").exists():
            self._set_state("down")
            return
        write_boot_id(self.spec.root)
        await self.start()

    async def replace(self, request: Path) -> None:
        """Replace the host by a new one from the root tree ``request`` names.

        The host goes down as a deleted instance would, comes back with the same name,
        address and SSH host key, its root a fresh overlay of that tree and a new boot id;
        ``image`` records the tree, ``replacements`` gets a line per replacement, and the
        request is removed once the host serves again.
        """
        lower = Path(request.read_text().strip())
        failed = self.spec.dir / "replace-failed"
        failed.unlink(missing_ok=True)
        await self.stop("replacing")
        try:
            mount_root(lower, self.spec.dir, self.spec.id)
        except Exception as error:  # the launcher reads why; the controller carries on
            failed.write_text(f"{error}\n")
            self._set_state("down")
        else:
            (self.spec.dir / "image").write_text(f"{lower}\n")
            with (self.spec.dir / "replacements").open("a") as log:  # one line per instance
                log.write(f"{lower}\n")
            await self.start()
        request.unlink()

    def health(self) -> tuple[int, str]:
        """What the service answers: 200 when the installed pw-web is healthy."""
        try:
            status = (self.spec.root / STATUS_FILE).read_text().strip()
        except OSError:
            return 503, f"pw-web not installed on {self.spec.id}\n"
        if status.startswith("ok"):
            return 200, f"{status} on {self.spec.id}\n"
        return 500, f"{status} on {self.spec.id}: service failed to start\n"

    async def _page(self, status: str) -> tuple[int, str]:
        """A page as the installed build serves it: slower or failing if it says so."""
        extra = _status_setting(status, "delay_ms")
        if extra:
            await asyncio.sleep(extra / 1000)
        fail_pct = _status_setting(status, "fail_pct")
        self.pages += 1
        # Every page counted, so the share of failures is exact rather than random.
        if fail_pct and (self.pages * fail_pct) // 100 != ((self.pages - 1) * fail_pct) // 100:
            return 500, f"{status.strip()}: request failed\n"
        return 200, status

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        try:
            with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                path = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "/"
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                code, body = self.health() if path in ("/", "/healthz") else (404, "not found\n")
                if path == "/" and code == 200:
                    code, body = await self._page(body)
                reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(
                    code, "Service Unavailable"
                )
                data = body.encode()
                writer.write(
                    f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        finally:
            self.clients.discard(writer)
            writer.close()


async def _control(lab_dir: Path) -> None:
    state = json.loads((lab_dir / "lab.json").read_text())
    pause_s = float(state.get("reboot_pause_s", 2.0))
    hosts = [
        HostRuntime(HostSpec.from_json(h), float(state.get("latency_s", 0.0)))
        for h in state["hosts"]
    ]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    for host in hosts:
        await host.start()
    busy: dict[str, asyncio.Task[None]] = {}
    while not stopping.is_set():
        for host in hosts:
            if host.spec.id in busy and busy[host.spec.id].done():
                busy.pop(host.spec.id).result()
            if host.spec.id in busy:
                continue
            request = host.spec.root / "run" / "lab-reboot-request"
            power_on = host.spec.dir / "power-on"
            replace_root = host.spec.dir / "replace-root"
            if replace_root.exists():
                busy[host.spec.id] = asyncio.create_task(host.replace(replace_root))
            elif host.state == "up" and request.exists():
                busy[host.spec.id] = asyncio.create_task(host.reboot(pause_s))
            elif host.state == "up":
                await host.units.serve()
            elif host.state == "down" and power_on.exists():
                power_on.unlink()
                (host.spec.dir / "never-returns").unlink(missing_ok=True)
                write_boot_id(host.spec.root)
                await host.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), POLL_S)
    for task in busy.values():
        task.cancel()
    for host in hosts:
        await host.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the controller for the lab in ``argv[0]`` until SIGTERM."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m patchwarden.testing.lab_controller LAB_DIR", file=sys.stderr)
        return 2
    asyncio.run(_control(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
