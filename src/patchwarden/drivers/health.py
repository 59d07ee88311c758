"""Health checks as the inventory declares them: HTTP status and body, TCP connect, command.

HTTP and TCP checks run from where patchwarden runs (that is how clients see the service);
command checks run on the host through its transport and pass when they exit 0.

Example:
    >>> import asyncio
    >>> from patchwarden.domain.assets import HealthCheck
    >>> checker = CheckRunner({"h": (HealthCheck(type="tcp", target="127.0.0.1:9"),)}, None)
    >>> asyncio.run(checker.check("h")).ok
    False
"""

from __future__ import annotations

import asyncio
import shlex
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from patchwarden.domain.assets import HealthCheck
from patchwarden.drivers.protocols import HealthResult
from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = ["CheckRunner", "http_get"]

# A health page is small; reading more only slows a failing check down.
_MAX_BODY = 64 * 1024


async def http_get(url: str, timeout_s: float) -> tuple[int, str]:
    """GET ``url`` (http or https, certificates verified); returns status and body text.

    Raises:
        OSError: the connection failed.
        TimeoutError: no full answer within ``timeout_s``.
        ValueError: the URL or the answer is not HTTP.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    context = ssl.create_default_context() if parts.scheme == "https" else None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def exchange() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context)
        try:
            host_header = parts.netloc.rsplit("@", 1)[-1]
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n"
                "User-Agent: patchwarden-health\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("latin-1"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read(_MAX_BODY)
        finally:
            writer.close()
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if (
            len(status_line) < 2
            or not status_line[0].startswith("HTTP/")
            or not status_line[1].isdigit()
        ):
            raise ValueError(f"not an HTTP answer: {status_line!r}")
        return int(status_line[1]), body.decode(errors="replace")

    return await asyncio.wait_for(exchange(), timeout_s)


@dataclass
class CheckRunner:
    """:class:`~patchwarden.drivers.protocols.HealthChecker` running each host's checks.

    A host passes when every one of its checks passes; the detail lists each outcome.
    Hosts without checks pass (nothing was asked), and the detail says so.
    """

    checks: Mapping[str, tuple[HealthCheck, ...]]
    transport: Transport | None
    addresses: Mapping[str, str] = field(default_factory=dict)

    async def check(self, host: str) -> HealthResult:
        """Run ``host``'s checks side by side.

        ``{host}`` in a target stands for the host's address (its id if it has none), so
        one check can be written for a whole group: ``http://{host}:8080/healthz``.
        """
        checks = self.checks.get(host, ())
        if not checks:
            return HealthResult(True, f"{host}: no health checks declared")
        address = self.addresses.get(host) or host
        resolved = [
            c.model_copy(update={"target": c.target.replace("{host}", address)}) for c in checks
        ]
        results = await asyncio.gather(*(self._one(host, c) for c in resolved))
        return HealthResult(all(r.ok for r in results), "; ".join(r.detail for r in results))

    async def _one(self, host: str, check: HealthCheck) -> HealthResult:
        match check.type:
            case "http":
                return await self._http(check)
            case "tcp":
                return await self._tcp(check)
            case "command":
                return await self._command(host, check)
        raise DriverError(f"unknown health check type {check.type!r}")  # pragma: no cover

    async def _http(self, check: HealthCheck) -> HealthResult:
        try:
            status, body = await http_get(check.target, check.timeout_s)
        except (OSError, TimeoutError, ValueError) as error:
            return HealthResult(
                False, f"GET {check.target}: {type(error).__name__} {error}".strip()
            )
        detail = f"GET {check.target} -> {status}"
        if status != check.expect_status:
            return HealthResult(
                False, f"{detail} (want {check.expect_status}): {body.strip()[:200]}"
            )
        if check.expect_body and check.expect_body not in body:
            return HealthResult(
                False, f"{detail}, body lacks {check.expect_body!r}: {body.strip()[:200]}"
            )
        return HealthResult(True, detail)

    async def _tcp(self, check: HealthCheck) -> HealthResult:
        address, _, port = check.target.rpartition(":")
        if not address or not port.isdigit():
            return HealthResult(False, f"tcp {check.target}: target must be host:port")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address.strip("[]"), int(port)), check.timeout_s
            )
        except (OSError, TimeoutError) as error:
            return HealthResult(
                False, f"tcp {check.target}: {type(error).__name__} {error}".strip()
            )
        writer.close()
        return HealthResult(True, f"tcp {check.target}: open")

    async def _command(self, host: str, check: HealthCheck) -> HealthResult:
        if self.transport is None:
            return HealthResult(False, f"{host}: command check without a transport")
        argv = shlex.split(check.target)
        try:
            result = await self.transport.run(host, argv, timeout_s=check.timeout_s)
        except DriverError as error:
            return HealthResult(False, f"`{check.target}`: {error}")
        if not result.ok:
            said = (result.stderr or result.stdout).strip()[:200]
            return HealthResult(False, f"`{check.target}` exited {result.exit_status}: {said}")
        return HealthResult(True, f"`{check.target}` exited 0")
