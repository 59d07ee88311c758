"""Fetching what an update channel publishes, over HTTP(S) or from ``file:`` URLs.

One GET per channel, with a timeout and a size limit. A Python index is asked for its JSON
page first (PEP 691, ``Accept: application/vnd.pypi.simple.v1+json``) and answers with
what it has: the response's ``Content-Type`` says which parser reads it, so a PEP 503
index that only serves HTML works too. An apt repository's ``Packages`` index is read
plain, or as ``Packages.gz`` when the plain one is absent (as many mirrors publish only
the compressed one).

An OCI registry is read through the distribution API: ``GET /v2/<name>/tags/list`` page
by page (``n`` per page, following each ``Link: <...>; rel="next"``), and ``HEAD
/v2/<name>/manifests/<tag>`` for the digest the tag points at (``Docker-Content-Digest``).
A registry that answers 401 with a ``Bearer`` challenge is asked for a token at the
challenge's ``realm`` (with its ``service`` and ``scope``: pull only), which is kept for
the reader's life and never logged; a ``Basic`` challenge (a password) is refused with
the reason, as the configuration holds no registry passwords.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from patchwarden import __version__
from patchwarden.domain.channels import AptChannel, Channel, OciChannel, PypiChannel
from patchwarden.drivers.oci_api import next_page, parse_challenge, parse_tag_list
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["MANIFEST_TYPES", "PEP691", "ChannelPage", "ChannelReader", "channel_url"]

PEP691 = "application/vnd.pypi.simple.v1+json"
"""The JSON form of the simple API."""

_ACCEPT_SIMPLE = f"{PEP691}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
_MAX_BYTES = 64 * 1024 * 1024
_MAX_PAGES = 1000
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
"""What a manifest HEAD accepts: an image index (multi-platform) or one image, OCI or Docker."""
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$")


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
    if isinstance(channel, OciChannel):
        return [f"{channel.registry}/v2/{name}/tags/list?n={channel.page_size}"]
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
        self._tokens: dict[tuple[str, str], str] = {}

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

    def oci_tags(self, channel: OciChannel, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository``, over as many pages as the registry sends.

        Raises:
            DriverError: No such repository, a refused login, or an unusable answer.
            TransientDriverError: The registry could not be reached or answered an error.
        """
        url: str | None = channel_url(channel, repository)[0]
        tags: list[str] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > _MAX_PAGES:
                raise DriverError(f"{repository}: more than {_MAX_PAGES} pages of tags")
            response = self._oci(channel, repository, "GET", url, "application/json")
            if response.status_code == 404:
                raise DriverError(f"registry has no repository {repository!r} ({url})")
            try:
                tags.extend(parse_tag_list(response.text, repository))
            except ValueError as error:
                raise DriverError(f"{url}: {error}") from None
            following = next_page(response.headers.get("link", ""))
            url = urljoin(str(response.url), following) if following else None
        return tuple(tags)

    def oci_digest(self, channel: OciChannel, repository: str, tag: str) -> str:
        """The digest of the manifest ``tag`` points at now (``sha256:...``).

        From ``Docker-Content-Digest``; a registry that does not send it on HEAD is asked
        with GET, and the manifest's bytes are hashed.

        Raises:
            DriverError: No such tag, or no digest to be had.
            TransientDriverError: The registry could not be reached or answered an error.
        """
        url = f"{channel.registry}/v2/{repository}/manifests/{tag}"
        accept = ", ".join(MANIFEST_TYPES)
        response = self._oci(channel, repository, "HEAD", url, accept)
        if response.status_code == 404:
            raise DriverError(f"registry has no tag {tag!r} in {repository!r}")
        digest = str(response.headers.get("docker-content-digest", ""))
        if not digest:
            response = self._oci(channel, repository, "GET", url, accept)
            digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if not _DIGEST.match(digest):
            raise DriverError(f"{url}: not a digest: {digest[:80]!r}")
        return digest

    def _oci(
        self, channel: OciChannel, repository: str, method: str, url: str, accept: str
    ) -> httpx.Response:
        """One registry request, with a token when the registry asks for one."""
        scope = f"repository:{repository}:pull"
        key = (channel.registry, scope)
        response = self._send(method, url, accept, self._tokens.get(key))
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is None or challenge.scheme != "bearer":
                scheme = challenge.scheme if challenge else "no challenge"
                raise DriverError(
                    f"{url}: the registry wants a login ({scheme}); only anonymous and "
                    "token (Bearer) access are supported"
                )
            self._tokens[key] = self._token(challenge.params, scope)
            response = self._send(method, url, accept, self._tokens[key])
            if response.status_code == 401:
                raise DriverError(f"{url}: the registry refused the token its realm issued")
        if response.status_code == 404:
            return response
        if response.status_code >= 400:
            raise TransientDriverError(f"{url} answered {response.status_code}")
        if len(response.content) > _MAX_BYTES:
            raise DriverError(f"{url}: more than {_MAX_BYTES} bytes")
        return response

    def _send(self, method: str, url: str, accept: str, token: str | None) -> httpx.Response:
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._client.request(method, url, headers=headers)
        except httpx.HTTPError as error:
            raise TransientDriverError(f"cannot read {url}: {error}") from None

    def _token(self, params: dict[str, str], scope: str) -> str:
        """A pull token from the challenge's realm (the distribution token flow)."""
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise DriverError(f"the registry's token realm is not an http(s) URL: {realm!r}")
        query = {"scope": params.get("scope") or scope}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            response = self._client.get(realm, params=query)
        except httpx.HTTPError as error:
            raise TransientDriverError(f"cannot get a token from {realm}: {error}") from None
        if response.status_code >= 400:
            raise DriverError(f"{realm} gave no token: it answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise DriverError(f"{realm} answered something other than JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise DriverError(f"{realm} answered no `token` or `access_token`")
        return token

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
