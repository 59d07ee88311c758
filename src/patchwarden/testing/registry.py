"""A real OCI registry on loopback: Debian's ``docker-registry`` (the CNCF distribution server).

:class:`OciRegistry` writes a configuration and a storage folder in a temporary directory,
starts ``docker-registry serve`` on a free loopback port, waits until ``/v2/`` answers,
and stops the process it started (by its pid) when done. With ``token_auth=True`` the
registry is configured for the distribution token flow (``auth: token``): it answers 401
with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``, and :class:`TokenServer`
(a small HTTP server in the test process) issues the JSON Web Tokens the registry checks:
ES256, signed with a key made for the run, whose self-signed certificate is the registry's
``rootcertbundle`` and travels in the token's ``x5c`` header, as a real token service's does.
The token server grants every scope asked for (a registry of test data, on loopback only)
and counts the requests, so a test sees that the flow was used.

:func:`push_image` uploads a minimal OCI image (one layer blob, a config blob, an image
manifest) through the registry's upload API, the way ``docker push`` or ``oras`` does with
no daemon: ``POST /v2/<name>/blobs/uploads/``, then ``PUT <location>&digest=...`` per blob,
then ``PUT /v2/<name>/manifests/<tag>``.

Example (needs the package, so not a doctest)::

    with OciRegistry.started(token_auth=True) as registry:
        digest = push_image(registry, "acme/gateway", "1.2.0")
        # an application's channel: {type: oci, registry: <registry.url>, repository: acme/gateway}
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = ["OCI_MANIFEST", "OciRegistry", "TokenServer", "push_image", "registry_binary"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_SERVICE = "patchwarden-test-registry"
_ISSUER = "patchwarden-test-token-service"


def registry_binary() -> str | None:
    """The distribution server's program (Debian names it ``docker-registry``), if installed."""
    return shutil.which("docker-registry") or shutil.which("registry")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHttp

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        scopes = query.get("scope", [])
        with self.server.lock:
            self.server.requests.append({k: v[0] for k, v in query.items()})
        body = json.dumps({"token": self.server.issue(scopes), "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TokenHttp(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict[str, str]] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "patchwarden test tokens")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        super().__init__(("127.0.0.1", 0), _TokenHandler)

    def issue(self, scopes: list[str]) -> str:
        """A token granting each ``repository:<name>:<actions>`` scope asked for."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"alg": "ES256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": "",
            "aud": _SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class TokenServer:
    """A token service for the distribution token flow on loopback (see the module)."""

    def __init__(self) -> None:
        self._http = _TokenHttp()
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        """The URL a registry's challenge names: ``http://127.0.0.1:PORT/token``."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/token"

    @property
    def requests(self) -> list[dict[str, str]]:
        """Each token request's query (``service``, ``scope``)."""
        with self._http.lock:
            return list(self._http.requests)

    def token(self, scope: str) -> str:
        """A token for ``scope`` (``repository:acme/gw:pull,push``), as the realm would give."""
        return self._http.issue([scope])

    def certificate_pem(self) -> bytes:
        """The signing certificate, for the registry's ``rootcertbundle``."""
        return self._http.cert.public_bytes(serialization.Encoding.PEM)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(10)


class OciRegistry:
    """One ``docker-registry`` process over a temporary folder (see the module).

    Args:
        tokens: A token service to trust (``auth: token``); anonymous access when ``None``.
    """

    def __init__(self, tokens: TokenServer | None = None) -> None:
        binary = registry_binary()
        if binary is None:
            raise RuntimeError("docker-registry is not installed (Debian: docker-registry)")
        self.tokens = tokens
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="patchwarden-registry-"))
        self.log = self.root / "registry.log"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}},
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": secrets.token_hex(16)},
        }
        if tokens is not None:
            bundle = self.root / "token-signer.pem"
            bundle.write_bytes(tokens.certificate_pem())
            config["auth"] = {
                "token": {
                    "realm": tokens.realm,
                    "service": _SERVICE,
                    "issuer": _ISSUER,
                    "rootcertbundle": str(bundle),
                }
            }
        # JSON is YAML: the registry reads this as its YAML configuration.
        (self.root / "config.yml").write_text(json.dumps(config, indent=2))
        with self.log.open("wb") as log:  # the child keeps its own copy of the descriptor
            self._process = subprocess.Popen(
                [binary, "serve", str(self.root / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(20.0)

    @classmethod
    @contextmanager
    def started(cls, *, token_auth: bool = False) -> Iterator[OciRegistry]:
        """A registry (and its token service with ``token_auth``), stopped on exit."""
        tokens = TokenServer() if token_auth else None
        try:
            registry = cls(tokens)
            try:
                yield registry
            finally:
                registry.stop()
        finally:
            if tokens is not None:
                tokens.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the API is under ``/v2/``)."""
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()[-2000:]}")
            try:
                answer = httpx.get(f"{self.url}/v2/", timeout=1.0)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            if answer.status_code in (200, 401):
                return
        self.stop()
        raise RuntimeError(f"docker-registry did not answer within {timeout_s} s")

    def headers(self, repository: str) -> dict[str, str]:
        """The ``Authorization`` a pusher of ``repository`` sends (none without tokens)."""
        if self.tokens is None:
            return {}
        token = self.tokens.token(f"repository:{repository}:pull,push")
        return {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        """Stop the process this object started, then delete its folder."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload(client: httpx.Client, registry: OciRegistry, repository: str, data: bytes) -> str:
    digest = _digest(data)
    headers = registry.headers(repository)
    started = client.post(f"{registry.url}/v2/{repository}/blobs/uploads/", headers=headers)
    started.raise_for_status()
    location = httpx.URL(registry.url).join(started.headers["location"])
    done = client.put(
        location.copy_merge_params({"digest": digest}),
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    done.raise_for_status()
    return digest


def push_image(registry: OciRegistry, repository: str, tag: str, content: str = "") -> str:
    """Push a one-layer OCI image under ``repository:tag``; the manifest's digest.

    The layer is a gzipped tar holding ``/VERSION`` (``content``, the tag by default), so
    each tag's image, and digest, differs.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = (content or tag).encode()
        member = tarfile.TarInfo("VERSION")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]},
        }
    ).encode()
    with httpx.Client(timeout=30.0) as client:
        layer_digest = _upload(client, registry, repository, layer)
        config_digest = _upload(client, registry, repository, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest,
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        answer = client.put(
            f"{registry.url}/v2/{repository}/manifests/{tag}",
            content=manifest,
            headers={**registry.headers(repository), "Content-Type": OCI_MANIFEST},
        )
        answer.raise_for_status()
    return _digest(manifest)
