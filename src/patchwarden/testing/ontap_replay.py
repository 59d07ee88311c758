"""A stand-in ONTAP cluster: an HTTPS server answering as ONTAP's REST API documents it.

There is no NetApp array here, so the ``ontap`` storage driver is tested against this
server. It answers with the JSON shapes of ONTAP's documentation (``/api/cluster``,
``/api/cluster/nodes``, ``/api/cluster/jobs/{uuid}``, ``{"error": {"message", "code"}}``)
and enforces the rules ONTAP documents for storage failover, so a driver that breaks
them fails here:

- a takeover (``POST /api/private/cli/storage/failover/takeover``, ``ofnode``) needs
  storage failover enabled, the node and its partner ``up`` and the partner's takeover
  state ``not_attempted``; otherwise ONTAP's error 852130 ("Failed to initiate
  takeover") comes back and nothing changes. The node is then ``taken_over``, then
  ``waiting_for_giveback`` a few reads later; the partner is ``in_takeover``;
- a giveback (``PATCH /api/cluster/nodes/{uuid}?action=giveback``) is issued to the
  partner holding the storage and answers ``202`` with a job; the job fails with 852126
  ("Failed to initiate giveback") unless the node waits for giveback, else it runs for a
  few reads and succeeds, the node ``up`` again;
- a node's image update (``POST /api/private/cli/system/node/image/update``) is accepted
  only while the node is taken over and for a package the server holds; the node then
  reports that release;
- every request needs HTTP basic authentication with the one account it was given.

It can also stand in for what an attached host sees: with ``multipath_file``, after every
request it writes the ``multipath -ll`` output of one LUN served by every node (two paths
per node, in the layout device-mapper-multipath documents), the paths through a node that
is taken over ``failed faulty running``; a fake ``multipath`` command on the host prints
that file. ``failed_host_paths`` marks paths down for good (a host already short of one).

What it does not prove: how a real ONTAP release times these transitions, which fields
its answers carry beyond the documented ones, and what a real node reports between an
image update and its giveback.

Example::

    with OntapReplay(certificate, key, password="secret") as array:
        array.url   # https://127.0.0.1:PORT
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import uuid
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["OntapReplay", "ReplayNode", "self_signed"]

TAKEOVER_FAILED = 852130
GIVEBACK_FAILED = 852126


@dataclass
class ReplayNode:
    """One node of the stand-in cluster."""

    name: str
    partner: str
    release: str
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "up"
    ha_enabled: bool = True
    takeover: str = "not_attempted"
    giveback: str = "nothing_to_giveback"
    reads_until_ready: int = 0

    def record(self, partner_uuid: str) -> dict[str, Any]:
        """The node as ``GET /api/cluster/nodes?fields=name,uuid,state,version,ha`` shows it."""
        generation, major, minor = (self.release.split("P")[0].split(".") + ["0", "0"])[:3]
        return {
            "uuid": self.uuid,
            "name": self.name,
            "state": self.state,
            "version": {
                "full": f"NetApp Release {self.release}: Tue Oct 31 10:20:30 UTC 2023",
                "generation": int(generation),
                "major": int(major),
                "minor": int(minor),
            },
            "ha": {
                "enabled": self.ha_enabled,
                "auto_giveback": False,
                "partners": [{"uuid": partner_uuid, "name": self.partner}],
                "takeover": {"state": self.takeover},
                "giveback": {"state": self.giveback},
                "ports": [{"name": "e0h"}, {"name": "N/A"}],
            },
            "_links": {"self": {"href": f"/api/cluster/nodes/{self.uuid}"}},
        }


@dataclass
class _Job:
    uuid: str
    description: str
    reads_left: int
    finish: Any  # () -> tuple[state, message, code], applied when the job ends
    state: str = "running"
    message: str = ""
    code: int = 0


class OntapReplay:
    """The server; a context manager that starts it on a free loopback port.

    Args:
        certificate: PEM certificate the server presents.
        key: Its private key.
        username: The one account (basic authentication).
        password: Its password.
        pairs: HA pairs of node names; every node starts ``up`` on ``release``.
        release: The ONTAP release every node runs at first.
        packages: Package URL → the release it installs.
        reads_until_ready: Reads of a taken-over node before it waits for giveback (and
            of a giveback job before it ends).
    """

    def __init__(
        self,
        certificate: Path,
        key: Path,
        *,
        username: str = "admin",
        password: str,
        pairs: tuple[tuple[str, str], ...] = (("cluster1-01", "cluster1-02"),),
        release: str = "9.13.1P4",
        packages: dict[str, str] | None = None,
        reads_until_ready: int = 2,
        multipath_file: Path | None = None,
        failed_host_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.certificate, self.key = certificate, key
        self.credentials = "Basic " + b64encode(f"{username}:{password}".encode()).decode()
        self.nodes: dict[str, ReplayNode] = {}
        for a, b in pairs:
            self.nodes[a] = ReplayNode(a, b, release)
            self.nodes[b] = ReplayNode(b, a, release)
        self.packages = dict(packages or {})
        self.reads_until_ready = reads_until_ready
        self.multipath_file = multipath_file
        self.failed_host_paths = failed_host_paths
        self.jobs: dict[str, _Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the rules ----------------------------------------------------------------------

    def _by_uuid(self, node_uuid: str) -> ReplayNode | None:
        return next((n for n in self.nodes.values() if n.uuid == node_uuid), None)

    def _tick(self) -> None:
        """One read of the cluster's state passes: taken-over nodes boot, jobs run."""
        for node in self.nodes.values():
            if node.state == "taken_over":
                if node.reads_until_ready <= 0:
                    node.state = "waiting_for_giveback"
                node.reads_until_ready -= 1
        for job in self.jobs.values():
            if job.state == "running":
                job.reads_left -= 1
                if job.reads_left <= 0:
                    job.state, job.message, job.code = job.finish()

    def takeover(self, ofnode: str) -> tuple[int, dict[str, Any]]:
        """``storage failover takeover -ofnode``: the partner takes the node's storage."""
        node = self.nodes.get(ofnode)
        if node is None:
            return 400, _error(f'entry doesn\'t exist: node "{ofnode}"', 2)
        partner = self.nodes[node.partner]
        if node.state in ("taken_over", "waiting_for_giveback"):
            return 400, _error(f"Node {ofnode} is already taken over.", TAKEOVER_FAILED)
        if not partner.ha_enabled or partner.state != "up" or node.state != "up":
            return 400, _error(
                'Failed to initiate takeover. Run the "storage failover show-takeover" '
                "command for more information.",
                TAKEOVER_FAILED,
            )
        if partner.takeover != "not_attempted":
            return 400, _error("Takeover cannot be completed. Reason: disabled.", 852131)
        node.state, node.reads_until_ready = "taken_over", self.reads_until_ready
        node.takeover, node.giveback = "not_possible", "nothing_to_giveback"
        partner.takeover, partner.giveback = "in_takeover", "not_attempted"
        return 200, {"num_records": 1, "records": [{"cli_output": f"takeover of {ofnode}"}]}

    def giveback(self, holder_uuid: str) -> tuple[int, dict[str, Any]]:
        """``PATCH .../nodes/{holder}?action=giveback``: a job giving the storage back."""
        holder = self._by_uuid(holder_uuid)
        if holder is None:
            return 404, _error("entry doesn't exist", 4)
        owner = self.nodes[holder.partner]

        def finish() -> tuple[str, str, int]:
            if owner.state != "waiting_for_giveback" or holder.takeover != "in_takeover":
                holder.giveback = "failed"
                return (
                    "failure",
                    'Failed to initiate giveback. Run the "storage failover show-giveback" '
                    "command for more information.",
                    GIVEBACK_FAILED,
                )
            owner.state, owner.takeover, owner.giveback = (
                "up",
                "not_attempted",
                "nothing_to_giveback",
            )
            holder.takeover, holder.giveback = "not_attempted", "nothing_to_giveback"
            return "success", "success", 0

        job = _Job(str(uuid.uuid4()), f"PATCH /api/cluster/nodes/{holder_uuid}",
                   self.reads_until_ready, finish)  # fmt: skip
        if holder.takeover == "in_takeover":
            holder.giveback = "in_progress"
        self.jobs[job.uuid] = job
        href = f"/api/cluster/jobs/{job.uuid}"
        return 202, {"job": {"uuid": job.uuid, "_links": {"self": {"href": href}}}}

    def image_update(self, node_name: str, package: str) -> tuple[int, dict[str, Any]]:
        """``system node image update``: only on a node taken over, from a known package."""
        node = self.nodes.get(node_name)
        if node is None:
            return 400, _error(f'entry doesn\'t exist: node "{node_name}"', 2)
        if node.state not in ("taken_over", "waiting_for_giveback"):
            return 400, _error(
                f"Node {node_name} is serving data; update its image while it is taken over.",
                1,
            )
        if package not in self.packages:
            return 400, _error(f"Failed to download package from {package}.", 1)
        node.release = self.packages[package]
        return 200, {"num_records": 1, "records": [{"cli_output": "image updated"}]}

    def multipath_output(self) -> str:
        """``multipath -ll`` on a host that reaches one LUN through every node (ALUA).

        The paths through the first node form the active group (optimized); each node has
        two (one per fabric). A node taken over fails its paths; ``failed_host_paths``
        (device names) fail for good.
        """
        lines = [
            "mpatha (3600a098038303634722b4d59646c4436) dm-0 NETAPP,LUN C-Mode",
            "size=10G features='3 queue_if_no_path pg_init_retries 50' hwhandler='1 alua' wp=rw",
        ]
        nodes = sorted(self.nodes.values(), key=lambda n: n.name)
        for index, node in enumerate(nodes):
            last_group = index == len(nodes) - 1
            prio, status = (50, "active") if index == 0 else (10, "enabled")
            lines.append(f"{'`' if last_group else '|'}-+- policy='service-time 0' "
                         f"prio={prio} status={status}")  # fmt: skip
            indent = "  " if last_group else "| "
            for fabric in (0, 1):
                device = f"sd{chr(ord('b') + 2 * index + fabric)}"
                down = node.state != "up" or device in self.failed_host_paths
                states = "failed faulty running" if down else "active ready running"
                branch = "`-" if fabric == 1 else "|-"
                hctl = f"{11 + fabric}:0:{index}:1"
                lines.append(f"{indent}{branch} {hctl} {device} 8:{16 * (2 * index + fabric + 1)} "
                             f"{states}")  # fmt: skip
        return "\n".join(lines) + "\n"

    # -- HTTP ---------------------------------------------------------------------------

    def answer(self, method: str, target: str, body: Any) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request."""
        with self.lock:
            self.requests.append((method, target))
            answered = self._answer(method, target, body)
            if self.multipath_file is not None:
                self.multipath_file.write_text(self.multipath_output())
            return answered

    def _answer(self, method: str, target: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        if method == "GET" and path == "/api/cluster":
            release = min(n.release for n in self.nodes.values())
            return 200, {
                "name": "cluster1",
                "uuid": "4ea7a442-86d1-11e0-ae1c-123478563412",
                "version": {"full": f"NetApp Release {release}: Tue Oct 31 10:20:30 UTC 2023"},
                "_links": {"self": {"href": "/api/cluster"}},
            }
        if method == "GET" and path == "/api/cluster/nodes":
            self._tick()
            records = [
                n.record(self.nodes[n.partner].uuid)
                for n in sorted(self.nodes.values(), key=lambda n: n.name)
            ]
            return 200, {
                "records": records,
                "num_records": len(records),
                "_links": {"self": {"href": target}},
            }
        if method == "GET" and path.startswith("/api/cluster/jobs/"):
            self._tick()
            job = self.jobs.get(path.rsplit("/", 1)[1])
            if job is None:
                return 404, _error("entry doesn't exist", 4)
            return 200, {
                "uuid": job.uuid,
                "description": job.description,
                "state": job.state,
                "message": job.message,
                "code": job.code,
                "_links": {"self": {"href": path}},
            }
        if method == "POST" and path == "/api/private/cli/storage/failover/takeover":
            return self.takeover(str((body or {}).get("ofnode", "")))
        if method == "PATCH" and path.startswith("/api/cluster/nodes/"):
            if query.get("action") != ["giveback"]:
                return 400, _error("unsupported action", 262179)
            return self.giveback(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/api/private/cli/system/node/image/update":
            body = body or {}
            return self.image_update(str(body.get("node", "")), str(body.get("package", "")))
        return 404, _error(f'API not found: "{method} {path}"', 3)

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        assert self._server is not None, "not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OntapReplay:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                pass

            def _serve(self) -> None:
                if self.headers.get("Authorization") != replay.credentials:
                    self._send(401, _error("not authorized for that command", 6691623))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(400, _error("Invalid JSON input", 262197))
                    return
                self._send(*replay.answer(self.command, self.path, body))

            def _send(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/hal+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - http.server's names

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None


def _error(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "code": str(code)}}


def self_signed(folder: Path, name: str = "ontap") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the replay's own CA), as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
