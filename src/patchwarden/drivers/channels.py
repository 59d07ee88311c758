"""Fetching what an update channel publishes, over HTTP(S) or from ``file:`` URLs.

One GET per channel, with a timeout and a size limit. A Python index is asked for its JSON
page first (PEP 691, ``Accept: application/vnd.pypi.simple.v1+json``) and answers with
what it has: the response's ``Content-Type`` says which parser reads it, so a PEP 503
index that only serves HTML works too. An apt repository's ``Packages`` index is read
plain, or as ``Packages.gz`` when the plain one is absent (as many mirrors publish only
the compressed one).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from patchwarden import __version__
from patchwarden.domain.channels import AptChannel, Channel, PypiChannel
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["PEP691", "ChannelPage", "ChannelReader", "channel_url"]

PEP691 = "application/vnd.pypi.simple.v1+json"
"""The JSON form of the simple API."""

_ACCEPT_SIMPLE = f"{PEP691}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ChannelPage:
    """What a channel answered.

    Attributes:
        url: The URL read (after redirects).
        content_type: The media type the server gave (``""`` for ``file:``).
        text: The body, decoded as UTF-8.
    """

    url: str
    content_type: str
    text: str


def channel_url(channel: Channel, name: str) -> list[str]:
    """The URLs to try, in order, for the channel's page about ``name``.

    Example:
        >>> from patchwarden.domain.channels import AptChannel
        >>> channel_url(AptChannel(type="apt", repository="http://r/debian", suite="bookworm"),
        ...             "shop")  # doctest: +NORMALIZE_WHITESPACE
        ['http://r/debian/dists/bookworm/main/binary-amd64/Packages',
         'http://r/debian/dists/bookworm/main/binary-amd64/Packages.gz']
    """
    if isinstance(channel, PypiChannel):
        root = channel.index.rstrip("/")
        return [f"{root}/{_normalised(name)}/"]
    if isinstance(channel, AptChannel):
        root = channel.repository.rstrip("/")
        if channel.suite.strip("/") in ("", "."):
            base = root
        else:
            base = f"{root}/dists/{channel.suite}/{channel.component}/binary-{channel.architecture}"
        return [f"{base}/Packages", f"{base}/Packages.gz"]
    return [channel.url]


def _normalised(name: str) -> str:
    """PEP 503's normalised project name."""
    import re  # noqa: PLC0415 - only the index path needs it

    return re.sub(r"[-_.]+", "-", name).lower()


class ChannelReader:
    """Reads channels over one HTTP client.

    Args:
        timeout_s: Seconds to wait to connect or for more data.
        transport: An httpx transport (a test's ``httpx.MockTransport``); the network's
            by default.
    """

    def __init__(self, timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None):
        self._client = httpx.Client(
            timeout=timeout_s,
            follow_redirects=True,
            headers={"User-Agent": f"patchwarden/{__version__}"},
            transport=transport,
        )

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def __enter__(self) -> ChannelReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, channel: Channel, name: str) -> ChannelPage:
        """The channel's page about ``name``.

        Raises:
            DriverError: The channel has no such page (404 for every URL tried).
            TransientDriverError: The server could not be reached or answered an error.
        """
        accept = _ACCEPT_SIMPLE if isinstance(channel, PypiChannel) else "*/*"
        urls = channel_url(channel, name)
        missing: list[str] = []
        for url in urls:
            page = self._get(url, accept)
            if page is None:
                missing.append(url)
                continue
            return page
        raise DriverError(f"channel has nothing for {name!r}: {', '.join(missing)} not found")

    def _get(self, url: str, accept: str) -> ChannelPage | None:
        if url.startswith("file:"):
            return _read_file(url)
        try:
            response = self._client.get(url, headers={"Accept": accept})
        except httpx.HTTPError as error:
            raise TransientDriverError(f"cannot read {url}: {error}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise TransientDriverError(f"{url} answered {response.status_code}")
        body = response.content
        if len(body) > _MAX_BYTES:
            raise DriverError(f"{url}: more than {_MAX_BYTES} bytes")
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        return ChannelPage(str(response.url), kind, _decode(url, body))


def _read_file(url: str) -> ChannelPage | None:
    path = Path(unquote(urlsplit(url).path))
    if path.is_dir():
        path = path / "index.html"
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DriverError(f"cannot read {url}: {error.strerror}") from None
    kind = PEP691 if path.suffix == ".json" else ""
    return ChannelPage(url, kind, _decode(url, body))


def _decode(url: str, body: bytes) -> str:
    if url.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            raise DriverError(f"{url}: not gzip: {error}") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DriverError(f"{url}: not UTF-8 text: {error.reason}") from None
