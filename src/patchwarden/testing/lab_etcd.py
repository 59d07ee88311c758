"""A real three-member etcd cluster whose members are lab hosts, patched for real.

A member of a real cluster is a Debian host running etcd. The lab builds that from two parts:

- three Debian roots (:mod:`patchwarden.testing.lab`, ``/srv/patchwarden-lab-etcd``,
  ``127.0.7.2``-``.4``): each member's "operating system", reached over SSH, with real
  ``apt``/``dpkg`` and the lab repository's test packages (``pw-web``, ``pw-kernel``);
- one ``etcd`` (Debian's ``etcd-server``) per root, on the root's address (client port 2379,
  peer port 2380), with its own data directory under ``/srv/patchwarden-etcd-lab``.

A watcher mirrors each root's power state on its etcd, as a real reboot does: while the
root is down or rebooting its etcd is stopped (SIGTERM, then SIGKILL: a member that lost
quorum may ignore SIGTERM), and once the root is back its etcd starts again on the same data
directory, rejoins and catches up. :class:`KeyLoad` writes and reads keys through every
endpoint during a campaign (a client that tries the next endpoint when one fails, as etcd's
own clients do) and counts the operations that no endpoint served.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from patchwarden.testing.lab import Lab, LabConfig
from patchwarden.testing.lab_evacuation import DSAS, cli
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import lab_real_drivers, shared_lab
from patchwarden.testing.shared import SharedLabs

__all__ = [
    "CAMPAIGN",
    "CLUSTER",
    "ETCD_ROOTS",
    "EtcdLab",
    "EtcdLabConfig",
    "KeyLoad",
    "KeyLoadReport",
    "shared_etcd_lab",
]

ETCD_ROOTS = LabConfig(
    dir=Path("/srv/patchwarden-lab-etcd"), hosts=3, first_address="127.0.7.2", reboot_pause_s=1.0
)
"""The members' Debian roots: three lab hosts on 127.0.7.2-4."""

CLUSTER = "etcd-lab"
"""The cluster's asset id."""

CAMPAIGN = """\
name: etcd
groups:
  etcd: {select: {kind: cluster}, strategy: cluster_rolling}
"""
"""Every member of the lab cluster, one at a time, the leader last."""

CLIENT_PORT = 2379
PEER_PORT = 2380


@dataclass(frozen=True)
class EtcdLabConfig:
    """Where the cluster's data lives and which roots its members run on.

    Attributes:
        dir: Data directories and logs, one per member; removed by :meth:`EtcdLab.down`.
        roots: The lab of the members' Debian roots.
        start_timeout_s: How long the cluster may take to become healthy.
    """

    dir: Path = Path("/srv/patchwarden-etcd-lab")
    roots: LabConfig = ETCD_ROOTS
    start_timeout_s: float = 20.0


def _request(url: str, body: dict[str, Any] | None, timeout_s: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(url, data=data, timeout=timeout_s) as answer:
        return json.loads(answer.read())


class EtcdLab:
    """Three etcd members on three lab roots, and the watcher that mirrors their reboots.

    Args:
        config: Where the data lives.
        roots: The running lab of the members' roots.
    """

    def __init__(self, config: EtcdLabConfig, roots: Lab) -> None:
        self.config = config
        self.roots = roots
        self.members = [s.id for s in roots.specs()]
        self.address = {s.id: s.address for s in roots.specs()}
        self.restarts: list[tuple[str, float]] = []
        self.held: set[str] = set()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- the cluster ----------------------------------------------------------------------

    def endpoint(self, member: str) -> str:
        """The member's client URL."""
        return f"http://{self.address[member]}:{CLIENT_PORT}"

    def _argv(self, member: str) -> list[str]:
        address = self.address[member]
        cluster = ",".join(f"{m}=http://{self.address[m]}:{PEER_PORT}" for m in self.members)
        return [
            "etcd", "--name", member, "--data-dir", str(self.config.dir / member),
            "--listen-client-urls", self.endpoint(member),
            "--advertise-client-urls", self.endpoint(member),
            "--listen-peer-urls", f"http://{address}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{address}:{PEER_PORT}",
            "--initial-cluster", cluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "patchwarden-etcd-lab",
        ]  # fmt: skip

    def start_member(self, member: str) -> None:
        """Start the member's etcd (a data directory it already has is rejoined)."""
        with self._lock:
            if member in self._procs and self._procs[member].poll() is None:
                return
            log = open(self.config.dir / f"{member}.log", "ab")  # noqa: SIM115 - the child's
            try:
                self._procs[member] = subprocess.Popen(
                    self._argv(member), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            finally:
                log.close()

    def stop_member(self, member: str, grace_s: float = 3.0) -> None:
        """Stop the member's etcd: SIGTERM, then SIGKILL after ``grace_s``."""
        with self._lock:
            proc = self._procs.pop(member, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def hold_down(self, member: str) -> None:
        """Stop the member and keep it down (a failed member) until :meth:`release`."""
        self.held.add(member)
        self.stop_member(member)

    def release(self, member: str) -> None:
        """Let a held-down member start again."""
        self.held.discard(member)
        self.start_member(member)

    def running(self, member: str) -> bool:
        """Whether the member's etcd process runs."""
        with self._lock:
            proc = self._procs.get(member)
        return proc is not None and proc.poll() is None

    def healthy(self, member: str) -> bool:
        """Whether the member says it serves with a quorum (``GET /health``)."""
        try:
            answer = _request(f"{self.endpoint(member)}/health", None, 2.0)
        except (OSError, ValueError):
            return False
        return str(answer.get("health")) == "true"

    def wait_healthy(self, timeout_s: float | None = None) -> None:
        """Wait until every member is healthy and they agree on a leader."""
        deadline = time.monotonic() + (timeout_s or self.config.start_timeout_s)
        while time.monotonic() < deadline:
            if all(self.healthy(m) for m in self.members) and self.leader() is not None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"etcd lab not healthy after {timeout_s} s: see {self.config.dir}")

    def _status(self, member: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = _request(
                f"{self.endpoint(member)}/v3/maintenance/status", {}, 2.0
            )
        except (OSError, ValueError):
            return None
        return found

    def leader(self) -> str | None:
        """The member every answering member names as leader; ``None`` if they disagree."""
        ids: dict[str, str] = {}
        leaders: set[str] = set()
        for member in self.members:
            status = self._status(member)
            if status is None:
                continue
            ids[str(status["header"]["member_id"])] = member
            leaders.add(str(status.get("leader", "0")))
        if len(leaders) != 1:
            return None
        return ids.get(leaders.pop())

    def move_leader(self, to: str) -> None:
        """Make ``to`` the leader (as ``etcdctl move-leader`` does); for putting back."""
        leader = self.leader()
        if leader is None or leader == to:
            return
        target = self._status(to)
        if target is None:
            raise RuntimeError(f"{to} does not answer")
        _request(
            f"{self.endpoint(leader)}/v3/maintenance/transfer-leadership",
            {"targetID": str(target["header"]["member_id"])},
            5.0,
        )
        deadline = time.monotonic() + 10
        while self.leader() != to and time.monotonic() < deadline:
            time.sleep(0.1)

    def up(self) -> None:
        """A fresh cluster: old data removed, every member started, healthy."""
        self.down()
        self.config.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.config.dir, 0, 0)
        self.config.dir.chmod(0o700)
        for member in self.members:
            self.start_member(member)
        try:
            self.wait_healthy()
        except BaseException:
            self.down()
            raise
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def down(self) -> None:
        """Stop the watcher and every member; remove the data."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        for member in self.members:
            self.stop_member(member)
        _kill_leftovers(self.config.dir)
        shutil.rmtree(self.config.dir, ignore_errors=True)

    # -- reboots --------------------------------------------------------------------------

    def _root_state(self, member: str) -> str:
        with contextlib.suppress(OSError):
            return (self.roots.host(member).dir / "state").read_text().strip()
        return "absent"

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for member in self.members:
                if member in self.held:
                    continue
                state = self._root_state(member)
                if state != "up" and self.running(member):
                    self.stop_member(member)
                elif state == "up" and not self.running(member):
                    self.start_member(member)
                    self.restarts.append((member, time.time()))

    # -- campaigns ------------------------------------------------------------------------

    def write_inventory(self, path: Path, *, controller: str | None = None) -> Path:
        """The members as hosts (SSH to their root) and the cluster (``driver: etcd``).

        ``controller`` is the member the plan patches last (by default the leader now).
        """
        env = "dev"
        assets: list[dict[str, Any]] = []
        for member in self.members:
            spec = self.roots.host(member)
            assets.append({
                "id": member,
                "kind": "vm",
                "env": env,
                "service_model": "on_prem",
                "os": {"family": "debian", "release": "12"},
                "ecosystem": "Debian:12",
                "connection": self.roots.connection(spec).model_dump(mode="json"),
                "health": [{"type": "http", "target": f"http://{spec.address}:"
                            f"{spec.http_port}/healthz", "expect_body": "ok"}],
            })  # fmt: skip
        assets.append({
            "id": CLUSTER,
            "kind": "cluster",
            "env": env,
            "service_model": "on_prem",
            "software": "etcd",
            "members": list(self.members),
            "controller": controller or self.leader(),
            "driver": "etcd",
            "driver_config": {"endpoints": {m: self.endpoint(m) for m in self.members}},
        })  # fmt: skip
        path.write_text(yaml.safe_dump({"environments": [env], "assets": assets}, sort_keys=False))
        return path

    def prepare(self, folder: Path) -> tuple[dict[str, str], Path, Path]:
        """Lab put back; inventory, campaign and advisories written, imported and scanned.

        Returns the environment to run ``patchwarden`` in, the inventory and the campaign.
        """
        self.put_back()
        inventory = self.write_inventory(folder / "inventory.yaml")
        campaign = folder / "campaign.yaml"
        campaign.write_text(CAMPAIGN)
        feed = folder / "dsa.json"
        feed.write_text(json.dumps(DSAS))
        env = {
            **os.environ,
            "PATCHWARDEN_DB": f"sqlite:///{folder / 'pw.db'}",
            "PATCHWARDEN_SSH_KEY": str(self.roots.key_path),
            "PATCHWARDEN_SSH_KNOWN_HOSTS": str(self.roots.known_hosts),
            "COLUMNS": "160",
        }
        for argv in (["inventory", "validate", str(inventory)], ["feeds", "import", str(feed)],
                     ["scan", "-i", str(inventory)]):  # fmt: skip
            done = cli(env, *argv)
            if done.returncode != 0:
                raise RuntimeError(f"patchwarden {' '.join(argv)}: {done.stdout}{done.stderr}")
        return env, inventory, campaign

    def put_back(self) -> None:
        """Every member running and healthy, every root at the lab's first package versions."""
        for member in list(self.held):
            self.release(member)
        for member in self.members:
            self.start_member(member)
        self.wait_healthy()
        self._install(INITIAL)

    def installed(self, member: str, names: list[str]) -> dict[str, str]:
        """Installed versions in a member's root, read over SSH."""

        async def read() -> dict[str, str]:
            real = lab_real_drivers(self.roots)
            try:
                return await real.packages.installed(member, names)
            finally:
                await real.close()

        return asyncio.run(read())

    def _install(self, versions: dict[str, str]) -> None:
        async def act() -> None:
            real = lab_real_drivers(self.roots)
            try:
                for member in self.members:
                    await real.packages.install(member, versions)
            finally:
                await real.close()

        asyncio.run(act())


def _kill_leftovers(data_dir: Path) -> None:
    """SIGKILL etcd processes of this lab left by a killed test run (by their data dir)."""
    marker = str(data_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"etcd") and any(a.startswith(marker) for a in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


@dataclass(frozen=True)
class KeyLoadReport:
    """What the key client saw: operations sent, failed on every endpoint, and fail-overs."""

    sent: int
    failed: int
    failovers: int
    errors: tuple[str, ...] = ()


@dataclass
class KeyLoad:
    """Writes a key and reads it back through the cluster, over and over, and counts.

    Each operation goes to the endpoint that served the last one; when it fails there, the
    next endpoint is tried (as etcd's own clients balance), and the operation counts as
    failed only when no endpoint serves it. A read must return what was just written.

    Attributes:
        endpoints: Every member's client URL.
        interval_s: Pause between two operations.
        timeout_s: Limit of one request to one endpoint.
    """

    endpoints: list[str]
    interval_s: float = 0.02
    timeout_s: float = 2.0
    sent: int = 0
    failed: int = 0
    failovers: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _once(self, endpoint: str, n: int) -> None:
        key = base64.b64encode(b"patchwarden/load").decode()
        value = base64.b64encode(str(n).encode()).decode()
        _request(f"{endpoint}/v3/kv/put", {"key": key, "value": value}, self.timeout_s)
        got = _request(f"{endpoint}/v3/kv/range", {"key": key}, self.timeout_s)
        kvs = got.get("kvs") or [{}]
        if kvs[0].get("value") != value:
            raise ValueError(f"read {kvs[0].get('value')!r} after writing {value!r}")

    def _run(self) -> None:
        current, n = 0, 0
        while not self._stop.is_set():
            n += 1
            self.sent += 1
            for attempt in range(len(self.endpoints)):
                endpoint = self.endpoints[(current + attempt) % len(self.endpoints)]
                try:
                    self._once(endpoint, n)
                except (OSError, ValueError, KeyError, urllib.error.URLError) as error:
                    if attempt == len(self.endpoints) - 1:
                        self.failed += 1
                        if len(self.errors) < 20:
                            self.errors.append(f"{endpoint}: {error}")
                    continue
                if attempt:
                    self.failovers += 1
                    current = (current + attempt) % len(self.endpoints)
                break
            time.sleep(self.interval_s)

    def start(self) -> None:
        """Start writing and reading on a thread of its own."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> KeyLoadReport:
        """Stop and report."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return KeyLoadReport(self.sent, self.failed, self.failovers, tuple(self.errors))


_labs: SharedLabs[EtcdLab] = SharedLabs("patchwarden-etcd-lab", stop=EtcdLab.down)


@contextlib.contextmanager
def shared_etcd_lab(config: EtcdLabConfig | None = None) -> Iterator[EtcdLab]:
    """The members' roots and the etcd cluster, up for the block (shared between users)."""
    config = config or EtcdLabConfig()
    with shared_lab(config.roots) as roots:

        def start() -> EtcdLab:
            lab = EtcdLab(config, roots)
            lab.up()
            return lab

        with _labs.use(config.dir, start) as lab:
            yield lab
