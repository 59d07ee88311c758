"""A real HAProxy on loopback in front of the lab hosts' pw-web services.

Two frontends over the same hosts: ``web`` (one backend of every host, for rolling and
canary) and ``bluegreen`` (two backends, the map file choosing the serving one). Retries
and redispatch are on, as in production: a connection refused by a host that is already
gone is retried on another server, so only requests *in flight* on a server that goes
away can fail, which is what draining is for.

Example (as root, with the lab up)::

    proxy = HaproxyProcess(HaproxySetup(dir, "127.0.2.1", servers, log_port=5514))
    proxy.start()
    ...
    proxy.stop()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from patchwarden.testing.lab_image import LabError

__all__ = ["HaproxyProcess", "HaproxySetup", "render_haproxy_config"]


@dataclass(frozen=True)
class HaproxySetup:
    """What the HAProxy of the traffic lab listens on and forwards to.

    Attributes:
        dir: Holds haproxy.cfg, the admin socket, the blue-green map and the log.
        address: Loopback address of both frontends.
        servers: ``(name, address, port)`` of every pw-web service, in pool order.
        log_port: UDP port on 127.0.0.1 that receives the request log.
        web_port: The rolling/canary frontend's port.
        bluegreen_port: The blue-green frontend's port.
        check_interval_ms: Health-check interval of every server.
        admin_port: TCP port of a second admin socket on ``address`` (``driver_config:
            {address: ...}``).
        run_log_port: UDP port on 127.0.0.1 that also receives the request log: where a
            ``patchwarden apply --real`` process listens (``metrics: {log: ...}``).
    """

    dir: Path
    address: str
    servers: tuple[tuple[str, str, int], ...]
    log_port: int
    web_port: int = 8000
    bluegreen_port: int = 8001
    check_interval_ms: int = 300
    admin_port: int = 9999
    run_log_port: int = 5515

    @property
    def run_log(self) -> str:
        """The request log's second destination, as an inventory names it."""
        return f"127.0.0.1:{self.run_log_port}"

    @property
    def socket(self) -> Path:
        """The admin stats socket."""
        return self.dir / "admin.sock"

    @property
    def map_file(self) -> Path:
        """The blue-green map: ``web web_green`` or ``web web_blue``."""
        return self.dir / "bluegreen.map"

    @property
    def config_file(self) -> Path:
        """haproxy.cfg."""
        return self.dir / "haproxy.cfg"

    def sides(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Server names of the blue and the green side: first half blue, second green."""
        names = tuple(name for name, _, _ in self.servers)
        half = len(names) // 2
        return names[:half], names[half:]


def render_haproxy_config(setup: HaproxySetup) -> str:
    """haproxy.cfg for ``setup``; pure, so it can be read and tested without HAProxy."""
    inter = setup.check_interval_ms

    def backend(name: str, names: tuple[str, ...]) -> str:
        lines = [
            f"backend {name}",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
        ]
        lines += [
            f"    server {n} {a}:{p} weight 100 check inter {inter} fall 2 rise 2"
            for n, a, p in setup.servers
            if n in names
        ]
        return "\n".join(lines) + "\n"

    blue, green = setup.sides()
    everyone = blue + green
    # One line per destination: the same one twice would send every request twice.
    log_lines = "".join(
        f"    log {target} len 4096 local0 info\n"
        for target in dict.fromkeys((f"127.0.0.1:{setup.log_port}", setup.run_log))
    )
    return (
        "# The traffic lab's HAProxy (patchwarden.testing.traffic_haproxy).\n"
        "global\n"
        f"    stats socket {setup.socket} mode 600 level admin\n"
        f"    stats socket ipv4@{setup.address}:{setup.admin_port} level admin\n"
        "    stats timeout 30s\n" + log_lines + "    maxconn 4096\n"
        "defaults\n"
        "    mode http\n"
        "    log global\n"
        "    option httplog\n"
        "    option dontlognull\n"
        "    timeout connect 2s\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout http-keep-alive 30s\n"
        # A refused or reset connection before the request went out is tried again,
        # elsewhere: servers that are already gone cost nothing, in-flight requests do.
        "    retries 3\n"
        "    option redispatch 1\n"
        "frontend web\n"
        f"    bind {setup.address}:{setup.web_port}\n"
        "    default_backend web\n"
        "frontend bluegreen\n"
        f"    bind {setup.address}:{setup.bluegreen_port}\n"
        f"    use_backend %[str(web),map({setup.map_file},web_green)]\n"
        + backend("web", everyone)
        + backend("web_blue", blue)
        + backend("web_green", green)
    )


class HaproxyProcess:
    """HAProxy started in the foreground by this process, stopped by its pid."""

    def __init__(self, setup: HaproxySetup) -> None:
        self.setup = setup
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Write the config and map, check them with ``haproxy -c``, start, wait for the socket."""
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise LabError("haproxy is not installed (scripts/lab-deps installs it)")
        setup = self.setup
        setup.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(setup.dir, 0o700)
        setup.config_file.write_text(render_haproxy_config(setup))
        setup.map_file.write_text("web web_green\n")
        check = subprocess.run(
            [binary, "-c", "-q", "-f", str(setup.config_file)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise LabError(f"haproxy.cfg rejected: {check.stderr.strip()}")
        setup.socket.unlink(missing_ok=True)
        log = open(setup.dir / "haproxy.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [binary, "-db", "-f", str(setup.config_file)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout_s
        while not _answers(setup.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (setup.dir / "haproxy.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise LabError(f"haproxy did not start:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop HAProxy (SIGTERM, then SIGKILL) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        sock.connect(str(path))
        sock.sendall(b"show info\n")
        return b"Name: HAProxy" in sock.recv(4096)
    return False
