"""Update channels: where an application's vendor publishes new versions, and how to read them.

An application names its channel in the inventory (``channel:``) and what to do when a newer
version appears there (``update_channel:`` ``auto``, ``notify`` or ``manual``). Three kinds
of channel, each read by its own parser in :mod:`patchwarden.feeds.channels`:

- ``pypi``: a Python package index's simple API (PEP 503 HTML or PEP 691 JSON);
- ``apt``: an apt repository's ``Packages`` index (a suite and component, or a flat
  repository);
- ``release_feed``: a JSON list of releases with download URLs and SHA-256 sums, as many
  vendors publish;
- ``oci``: an OCI registry's tag list (``/v2/<repository>/tags/list``, the distribution
  API), each tag that is a version of the application's ecosystem a release, pinned by the
  digest its manifest has.

Example:
    >>> from pydantic import TypeAdapter
    >>> channel = TypeAdapter(Channel).validate_python(
    ...     {"type": "pypi", "index": "https://pypi.example/simple/", "project": "shop"})
    >>> channel.ecosystem, channel.package_name("shop")
    ('pep440', 'shop')
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from patchwarden.domain.base import Value

__all__ = [
    "AptChannel",
    "Channel",
    "ChannelUrl",
    "FeedRelease",
    "NotifySpec",
    "OciChannel",
    "PypiChannel",
    "Release",
    "ReleaseFeedChannel",
]


def _http_url(value: str) -> str:
    """An absolute ``http(s)://`` or ``file:`` URL; anything else is refused."""
    if not value.startswith(("http://", "https://", "file:")):
        raise ValueError("must be an http://, https:// or file: URL")
    return value


ChannelUrl = Annotated[str, Field(min_length=1), AfterValidator(_http_url)]
"""Where a channel is read from: an ``http(s)://`` or ``file:`` URL."""


class PypiChannel(Value):
    """A Python package index: ``index`` is the simple API root (``.../simple/``)."""

    type: Literal["pypi"]
    index: ChannelUrl
    project: str = ""
    """The project's name on the index; the application's id when empty."""

    @property
    def ecosystem(self) -> str:
        """Versions on a Python index follow PEP 440."""
        return "pep440"

    def package_name(self, app_id: str) -> str:
        """The project to read: ``project`` or the application's id."""
        return self.project or app_id


class AptChannel(Value):
    """An apt repository: ``dists/<suite>/<component>/binary-<arch>/Packages``.

    ``suite: ./`` (or ``"."``) names a flat repository, whose ``Packages`` sits at the root.
    """

    type: Literal["apt"]
    repository: ChannelUrl
    suite: str = "stable"
    component: str = "main"
    architecture: str = "amd64"
    package: str = ""
    """The binary package to follow; the application's id when empty."""

    @property
    def ecosystem(self) -> str:
        """Debian package versions follow dpkg's order."""
        return "deb"

    def package_name(self, app_id: str) -> str:
        """The package to read: ``package`` or the application's id."""
        return self.package or app_id


class ReleaseFeedChannel(Value):
    """A vendor's JSON feed of releases, each with a version, a URL and a SHA-256 sum.

    ``versions`` names the order the vendor's versions follow (``semver`` by default).
    """

    type: Literal["release_feed"]
    url: ChannelUrl
    versions: Literal["semver", "pep440", "deb", "rpm", "maven", "gem", "go"] = "semver"

    @property
    def ecosystem(self) -> str:
        """The version order named by ``versions``."""
        return self.versions

    def package_name(self, app_id: str) -> str:
        """A feed describes one product: the application itself."""
        return app_id


def _registry_url(value: str) -> str:
    """A registry is spoken to over HTTP(S) only; ``file:`` has no distribution API."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be the registry's http:// or https:// URL")
    return value.rstrip("/")


_OCI_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
OCI_REPOSITORY = rf"^{_OCI_COMPONENT}(?:/{_OCI_COMPONENT})*$"
"""A repository name as the OCI distribution spec allows it (``acme/gateway``)."""


class OciChannel(Value):
    """An OCI registry: the tags of ``repository`` that are versions, newest pinned by digest.

    ``registry`` is the registry's base URL (``https://registry.example``: the API is under
    ``/v2/``). Tags that are not versions in ``versions``' order (``latest``, ``nightly``,
    ``main-3f2a``) are left out, and the check says which. ``tag_prefix`` is stripped
    from tags before they are read as versions (``v`` for ``v1.4.2``); a tag without it is
    not a version. ``page_size`` is the ``n`` asked per page of the tag list (registries
    that paginate send the next page's ``Link``).
    """

    type: Literal["oci"]
    registry: Annotated[str, Field(min_length=1), AfterValidator(_registry_url)]
    repository: Annotated[str, Field(pattern=OCI_REPOSITORY, max_length=255)] | None = None
    """The repository's name; the application's id when not given."""
    versions: Literal["semver", "pep440", "deb", "rpm", "maven", "gem", "go"] = "semver"
    tag_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{0,16}$")] = ""
    page_size: Annotated[int, Field(ge=1, le=10000)] = 100

    @property
    def ecosystem(self) -> str:
        """The version order named by ``versions``."""
        return self.versions

    def package_name(self, app_id: str) -> str:
        """The repository to read: ``repository`` or the application's id."""
        return self.repository or app_id

    def reference(self, repository: str, tag_or_digest: str) -> str:
        """How a container runtime names the image: ``host[:port]/repo:tag`` or ``@digest``.

        Example:
            >>> c = OciChannel(type="oci", registry="https://registry.example:5000/")
            >>> c.reference("acme/gw", "1.2.0"), c.reference("acme/gw", "sha256:ab")
            ('registry.example:5000/acme/gw:1.2.0', 'registry.example:5000/acme/gw@sha256:ab')
        """
        host = self.registry.split("://", 1)[1].split("/", 1)[0]
        joiner = "@" if ":" in tag_or_digest else ":"
        return f"{host}/{repository}{joiner}{tag_or_digest}"


Channel = Annotated[
    PypiChannel | AptChannel | ReleaseFeedChannel | OciChannel, Field(discriminator="type")
]
"""Any channel; ``type`` picks the model."""


class NotifySpec(Value):
    """Whom to tell when a new version appears: a webhook (JSON POST) and/or e-mail."""

    webhook: ChannelUrl | None = None
    email: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = ()


class Release(Value):
    """One version a channel offers.

    Attributes:
        version: The version, as the channel writes it.
        url: Where to download it (empty when the channel does not say).
        sha256: Its SHA-256, in hex, when the channel gives one.
        notes: A link to its release notes, when the channel gives one.
        digest: The content digest that pins it (an OCI manifest's ``sha256:...``), when
            the channel has one.
    """

    version: str
    url: str = ""
    sha256: str = ""
    notes: str = ""
    digest: str = ""


class FeedRelease(Value, extra="ignore"):
    """One entry of a release feed, as vendors write it (unknown keys are ignored).

    ``url`` may be relative to the feed's address; ``sha256`` is 64 hex digits.
    """

    version: Annotated[str, Field(min_length=1)]
    url: Annotated[str, Field(min_length=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    notes: str = ""
