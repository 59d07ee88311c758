"""HTTP(S) downloads of feed files: timeout, size limit, and conditional GET.

Feeds are big and change daily at most, so a download sends back the ``ETag`` and
``Last-Modified`` it got last time; the server answers ``304 Not Modified`` when nothing
changed and no body is transferred. Uses only the standard library (``urllib``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from patchwarden import __version__
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "FetchResult", "fetch"]

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for the server to connect or send more data (not the whole download)."""

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Refuse bodies larger than this (2 GiB): OSV's largest all.zip is well below."""

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FetchResult:
    """What a download brought back.

    Attributes:
        url: The URL asked for.
        status: 200, or 304 when the server said the copy we have is current.
        body: The content; empty for 304.
        etag: The validator to send next time (``""`` if the server gave none).
        last_modified: The ``Last-Modified`` header to send back next time.
    """

    url: str
    status: int
    body: bytes
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        """Whether the server answered 304 Not Modified."""
        return self.status == 304


def fetch(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> FetchResult:
    """GET ``url``, conditionally if ``etag`` or ``last_modified`` is given.

    Args:
        url: ``http://``, ``https://`` or ``file://`` URL.
        etag: The ``ETag`` of the copy we have; sent as ``If-None-Match``.
        last_modified: Its ``Last-Modified``; sent as ``If-Modified-Since``.
        timeout: Seconds for connecting and for each read.
        max_bytes: Largest body accepted; bigger downloads stop with an error.
        on_progress: Called with ``(bytes so far, total or None)`` as data arrives.

    Returns:
        The result; ``status`` 304 with an empty body when nothing changed.

    Raises:
        TransientDriverError: timeouts, refused connections, 5xx and 429 answers: trying
            again later may help.
        DriverError: other HTTP errors (404, 403, ...), a body over ``max_bytes``, or a URL
            scheme that is not supported.
    """
    if not url.startswith(("http://", "https://", "file://")):
        raise DriverError(f"cannot fetch {url!r}: only http, https and file URLs are supported")
    headers = {"User-Agent": f"patchwarden/{__version__}"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DriverError(f"{url}: {total} bytes is over the limit of {max_bytes}")
            body = _read(response, url, total, max_bytes, on_progress)
            return FetchResult(
                url,
                200,
                body,
                response.headers.get("ETag", "") or "",
                response.headers.get("Last-Modified", "") or "",
            )
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return FetchResult(url, 304, b"", etag, last_modified)
        message = f"{url}: HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code == 429:
            raise TransientDriverError(message) from None
        raise DriverError(message) from None
    except TimeoutError as error:
        raise TransientDriverError(f"{url}: timed out after {timeout:g} s") from error
    except urllib.error.URLError as error:
        raise TransientDriverError(f"{url}: {error.reason}") from error
    except OSError as error:
        raise TransientDriverError(f"{url}: {error}") from error


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _read(
    response: _Readable,
    url: str,
    total: int | None,
    max_bytes: int,
    on_progress: Callable[[int, int | None], None] | None,
) -> bytes:
    parts: list[bytes] = []
    received = 0
    while chunk := response.read(_CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise DriverError(f"{url}: more than {max_bytes} bytes; stopped (raise max_bytes?)")
        parts.append(chunk)
        if on_progress is not None:
            on_progress(received, total)
    return b"".join(parts)
