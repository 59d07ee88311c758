"""The command line against a server: the API's calls, with its answers as plain data.

``patchwarden ... --server URL`` (or ``PATCHWARDEN_SERVER``) sends the command to a running
``patchwarden serve`` instead of calling the service functions on a local database. The
caller is whoever the token from ``PATCHWARDEN_TOKEN`` belongs to: the server decides what
that user may do, and the audit trail names that user, never a name typed on the command
line. A token travels only over HTTPS, or over plain HTTP to this machine (loopback).

Refusals keep the command line's meaning: a 4xx is :class:`ServerRefused` (exit 2, the
server's reason; 422 with every problem's file, line and field), and a server that cannot
be reached or fails is :class:`ServerUnreachable` (exit 1).
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from patchwarden.errors import (
    InputError,
    PatchwardenError,
    Problem,
    UsageError,
    ValidationFailed,
)

__all__ = [
    "SERVER_ENV",
    "TOKEN_ENV",
    "RemoteServer",
    "ServerRefused",
    "ServerUnreachable",
    "StreamEvent",
    "connect",
    "parse_events",
]

SERVER_ENV = "PATCHWARDEN_SERVER"
TOKEN_ENV = "PATCHWARDEN_TOKEN"


class ServerRefused(InputError):
    """The server refused the request (a 4xx): its reason, exit code 2."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"the server refused ({status}): {detail}")


class ServerUnreachable(PatchwardenError):
    """The server could not be reached, or failed (a 5xx)."""


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: its type, id (if any) and JSON data."""

    event: str
    id: str | None
    data: Any


def parse_events(lines: Iterator[str]) -> Iterator[StreamEvent]:
    r"""Server-sent events from a ``text/event-stream``'s lines (comments skipped).

    Example:
        >>> list(parse_events(iter(["retry: 2000", "", "id: 1", "event: journal",
        ...                         'data: {"seq": 1}', "", ": keep-alive", ""])))
        [StreamEvent(event='journal', id='1', data={'seq': 1})]
    """
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in fields and "data" in fields:
                yield StreamEvent(fields["event"], fields.get("id"), json.loads(fields["data"]))
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> httpx.URL:
    """The server's base URL; a token goes in clear only to this machine.

    Raises:
        UsageError: not an http(s) URL, or plain HTTP to another machine.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise UsageError(f"--server {url!r} is not a URL: {error}") from error
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"--server {url!r}: write https://HOST[:PORT]")
    if parsed.scheme == "http" and not _loopback(parsed.host):
        raise UsageError(
            f"--server {url!r}: the token would cross the network in clear; use https:// "
            "(plain http only to this machine)"
        )
    return parsed


def _detail(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase, []
    if not isinstance(body, dict):
        return str(body)[:300], []
    detail = body.get("detail", "")
    if isinstance(detail, list):  # FastAPI's own validation answer
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}" for d in detail
        )
    problems = body.get("problems")
    return str(detail), problems if isinstance(problems, list) else []


class RemoteServer:
    """A patchwarden server, called with one user's token.

    Args:
        url: The server's base URL (``https://patch.example.org``).
        token: An API token (``pwt_...``); never printed.
        transport: An httpx transport (tests); the network by default.
    """

    def __init__(
        self, url: str, token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        base = _check_url(url)
        self._client = httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0, connect=10.0),
            transport=transport,
        )
        self.url = str(base)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> RemoteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        files: Sequence[tuple[str, bytes]] = (),
        text: bool = False,
    ) -> Any:
        """One call under ``/api/v1``; returns the decoded JSON (or text for CSV).

        ``files`` (``(name, content)``) are sent as the multipart field ``files``; ``text``
        returns the answer's text as it is, JSON or not (a file to write as received).

        Raises:
            ValidationFailed: 422 with the problems of an input file.
            ServerRefused: any other 4xx.
            ServerUnreachable: no answer, or a 5xx.
        """
        try:
            response = self._client.request(
                method, f"/api/v1{path}", params=params, json=body,
                files=[("files", (n, c, "application/octet-stream")) for n, c in files] or None,
            )  # fmt: skip
        except httpx.HTTPError as error:
            raise ServerUnreachable(f"cannot reach {self.url}: {error}") from error
        self._raise_for(response)
        if not text and response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        detail, problems = _detail(response)
        if response.status_code == 422 and problems:
            raise ValidationFailed(
                [
                    Problem(
                        str(p.get("file", "")),
                        int(p.get("line", 0)),
                        str(p.get("field", "")),
                        str(p.get("message", "")),
                        str(p.get("hint", "")),
                    )  # fmt: skip
                    for p in problems
                ]
            )
        if response.status_code >= 500:
            raise ServerUnreachable(f"{self.url} failed ({response.status_code}): {detail}")
        raise ServerRefused(response.status_code, detail)

    def poll(self, path: str, interval: float = 0.5) -> Iterator[dict[str, Any]]:
        """A background task's status (a scan, a feed sync) until it is no longer running.

        Yields every status read, the last one being its end.
        """
        while True:
            status = self.call("GET", path)
            yield status
            if status.get("state") != "running":
                return
            time.sleep(interval)

    def follow(self, run_id: str, after: int = 0) -> Iterator[StreamEvent]:
        """A run's server-sent events until the run ends (reconnecting where it left off)."""
        last = after
        for _ in range(20):
            try:
                with self._client.stream(
                    "GET",
                    f"/api/v1/runs/{run_id}/events",
                    headers={"Last-Event-ID": str(last)},
                    timeout=httpx.Timeout(60.0, connect=10.0, read=None),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        self._raise_for(response)
                    for event in parse_events(response.iter_lines()):
                        if event.id is not None and event.id.isdigit():
                            last = int(event.id)
                        yield event
                        if event.event == "end":
                            return
            except httpx.TransportError:
                continue  # the stream broke: carry on after the last event seen
        raise ServerUnreachable(f"lost the event stream of run {run_id} on {self.url}")


def connect(server: str | None, environ: Mapping[str, str]) -> RemoteServer | None:
    """The server to call: ``--server``, else ``PATCHWARDEN_SERVER``; ``None`` for local work.

    Raises:
        UsageError: a server without a token in ``PATCHWARDEN_TOKEN``, or a bad URL.
    """
    url = server or environ.get(SERVER_ENV, "")
    if not url:
        return None
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"{url}: set {TOKEN_ENV} to an API token (`patchwarden token create` on the server)"
        )
    return RemoteServer(url, token)
