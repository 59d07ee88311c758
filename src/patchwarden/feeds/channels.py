"""Reading what an update channel offers: pure parsers, one per kind of channel, and the rule.

Fetching lives in :mod:`patchwarden.drivers.channels`; these take the text it got.

- :func:`parse_simple_html` / :func:`parse_simple_json`: a project's page of a Python
  package index (PEP 503 HTML, PEP 691 JSON). Versions come from the file names (wheel and
  sdist names as :mod:`packaging.utils` reads them); yanked files (PEP 592) are left out.
- :func:`parse_packages_index`: an apt ``Packages`` index (deb822 paragraphs, as
  :mod:`debian.deb822` reads them).
- :func:`parse_release_feed`: a vendor's JSON release feed.
- :func:`tag_releases`: an OCI registry's tags that can be versions (the tag list itself
  is read by :mod:`patchwarden.drivers.oci_api`).
- :func:`newer_releases`: the rule: what is newer than the running version, newest first,
  in the channel's own version order.

Each parser raises :class:`ValueError` with what is wrong and where, for text it cannot use.
URLs are returned as the channel wrote them (maybe relative): the caller, who knows the
page's address, resolves them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from html.parser import HTMLParser
from typing import Any

from debian.deb822 import Deb822
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pydantic import Field, TypeAdapter, ValidationError

from patchwarden.domain.base import Value
from patchwarden.domain.channels import FeedRelease, Release
from patchwarden.errors import InvalidVersion
from patchwarden.versions import parse

__all__ = [
    "newer_releases",
    "parse_packages_index",
    "parse_release_feed",
    "parse_simple_html",
    "parse_simple_json",
    "tag_releases",
]


def _version_of(filename: str, project: str) -> str | None:
    """The version in a distribution's file name, if it is ``project``'s wheel or sdist."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(version) if name == canonicalize_name(project) else None


def _collect(files: Iterable[tuple[str, str, str]], project: str) -> tuple[Release, ...]:
    """Releases from ``(filename, url, sha256)``: one per version, a wheel's file preferred."""
    by_version: dict[str, Release] = {}
    for filename, url, sha256 in files:
        version = _version_of(filename, project)
        if version is None:
            continue
        seen = by_version.get(version)
        if seen is None or (filename.endswith(".whl") and not seen.url.endswith(".whl")):
            by_version[version] = Release(version=version, url=url, sha256=sha256)
    return tuple(by_version.values())


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.found.append(("".join(self._text).strip(), self._open))
            self._open = None


def parse_simple_html(text: str, project: str) -> tuple[Release, ...]:
    """The releases on a PEP 503 project page, with the links as written.

    Example:
        >>> page = '''<a href="../../f/shop-1.0.tar.gz#sha256=ab">shop-1.0.tar.gz</a>
        ... <a href="shop-1.1-py3-none-any.whl" data-yanked="">shop-1.1-py3-none-any.whl</a>
        ... <a href="shop-1.2-py3-none-any.whl">shop-1.2-py3-none-any.whl</a>'''
        >>> [(r.version, r.url, r.sha256) for r in parse_simple_html(page, "shop")]
        [('1.0', '../../f/shop-1.0.tar.gz', 'ab'), ('1.2', 'shop-1.2-py3-none-any.whl', '')]
    """
    anchors = _Anchors()
    anchors.feed(text)
    files: list[tuple[str, str, str]] = []
    for label, attrs in anchors.found:
        href = attrs.get("href")
        if not href or "data-yanked" in attrs:
            continue
        url, _, fragment = href.partition("#")
        algorithm, _, digest = fragment.partition("=")
        filename = label or url.rsplit("/", 1)[-1]
        files.append((filename, url, digest if algorithm == "sha256" else ""))
    return _collect(files, project)


class _File(Value, extra="ignore"):
    filename: str
    url: str
    hashes: dict[str, str] = Field(default_factory=dict)
    yanked: bool | str = False


class _Project(Value, extra="ignore"):
    name: str
    files: tuple[_File, ...]


def parse_simple_json(text: str, project: str) -> tuple[Release, ...]:
    """The releases on a PEP 691 project page (``application/vnd.pypi.simple.v1+json``).

    Example:
        >>> page = json.dumps({"meta": {"api-version": "1.1"}, "name": "shop", "files": [
        ...     {"filename": "shop-2.0.tar.gz", "url": "shop-2.0.tar.gz",
        ...      "hashes": {"sha256": "cd"}},
        ...     {"filename": "shop-2.1.tar.gz", "url": "shop-2.1.tar.gz", "hashes": {},
        ...      "yanked": "broken"}]})
        >>> [(r.version, r.url, r.sha256) for r in parse_simple_json(page, "shop")]
        [('2.0', 'shop-2.0.tar.gz', 'cd')]
    """
    try:
        page = _Project.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"not a PEP 691 project page: {where}: {first['msg']}") from None
    files = [
        (f.filename, f.url, f.hashes.get("sha256", "")) for f in page.files if f.yanked is False
    ]
    return _collect(files, project)


def parse_packages_index(text: str, repository: str, package: str) -> tuple[Release, ...]:
    """The versions of binary ``package`` in an apt ``Packages`` index.

    ``repository`` is the repository's root URL (a paragraph's ``Filename`` is relative
    to it).

    Example:
        >>> index = '''Package: shop
        ... Version: 1.0-1
        ... Filename: pool/s/shop_1.0-1_all.deb
        ... SHA256: aa
        ...
        ... Package: other
        ... Version: 9
        ...
        ... Package: shop
        ... Version: 1.1-1
        ... Filename: pool/s/shop_1.1-1_all.deb
        ... SHA256: bb
        ... '''
        >>> [(r.version, r.url) for r in parse_packages_index(index, "http://r/debian", "shop")]
        [('1.0-1', 'http://r/debian/pool/s/shop_1.0-1_all.deb'), ('1.1-1', 'http://r/debian/pool/s/shop_1.1-1_all.deb')]
    """  # noqa: E501 - a doctest's expected output is one line
    root = repository if repository.endswith("/") else repository + "/"
    releases: dict[str, Release] = {}
    for paragraph in Deb822.iter_paragraphs(text.splitlines()):
        if paragraph.get("Package") != package:
            continue
        version = paragraph.get("Version")
        if not version:
            raise ValueError(f"package {package}: a paragraph without Version")
        filename = paragraph.get("Filename", "")
        releases.setdefault(
            version,
            Release(
                version=version,
                url=root + filename.removeprefix("./") if filename else "",
                sha256=paragraph.get("SHA256", ""),
            ),
        )
    return tuple(releases.values())


_FEED = TypeAdapter(tuple[FeedRelease, ...])


def parse_release_feed(text: str) -> tuple[Release, ...]:
    """The releases of a JSON release feed, with the URLs as written.

    The feed is a list of releases, or an object whose ``releases`` is that list; each
    release has ``version``, ``url``, ``sha256`` (64 hex digits) and optionally ``notes``
    (a link to its release notes).

    Example:
        >>> feed = json.dumps({"releases": [
        ...     {"version": "2.4.1", "url": "app-2.4.1.tar.gz", "sha256": "0" * 64,
        ...      "notes": "https://vendor.example/2.4.1"}]})
        >>> [(r.version, r.url) for r in parse_release_feed(feed)]
        [('2.4.1', 'app-2.4.1.tar.gz')]
        >>> parse_release_feed('[{"version": "1", "url": "x"}]')
        Traceback (most recent call last):
        ...
        ValueError: release feed: [0].sha256: Field required
    """
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"release feed: not JSON: {error}") from None
    if isinstance(data, dict):
        data = data.get("releases")
    try:
        entries = _FEED.validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ValueError(f"release feed: {where or 'releases'}: {first['msg']}") from None
    return tuple(
        Release(version=e.version, url=e.url, sha256=e.sha256.lower(), notes=e.notes)
        for e in entries
    )


def newer_releases(
    releases: Sequence[Release], current: str, ecosystem: str
) -> tuple[tuple[Release, ...], tuple[str, ...]]:
    """The releases newer than ``current``, newest first, and the versions that do not parse.

    Pre-releases count as any version does: a channel that publishes them is read as it is.

    Example:
        >>> rs = [Release(version=v) for v in ("1.9", "1.10", "1.10rc1", "bogus!", "1.2")]
        >>> newer, bad = newer_releases(rs, "1.9", "pep440")
        >>> [r.version for r in newer], bad
        (['1.10', '1.10rc1'], ('bogus!',))
    """
    running = parse(ecosystem, current)
    keyed = []
    invalid: list[str] = []
    for release in releases:
        try:
            keyed.append((parse(ecosystem, release.version), release))
        except InvalidVersion:
            invalid.append(release.version)
    newer = sorted((pair for pair in keyed if pair[0] > running), key=lambda p: p[0], reverse=True)
    return tuple(r for _, r in newer), tuple(invalid)


def tag_releases(
    tags: Iterable[str], prefix: str, reference: Callable[[str], str]
) -> tuple[tuple[Release, ...], tuple[str, ...]]:
    """Releases from tags that start with ``prefix`` (stripped), and the tags left out.

    ``reference(tag)`` is how a runtime names the image by that tag (the release's URL);
    whether the rest is a version is :func:`newer_releases`' business.

    Example:
        >>> rs, left = tag_releases(["v1.2.0", "latest", "v"], "v", lambda t: f"r/gw:{t}")
        >>> [(r.version, r.url) for r in rs], left
        ([('1.2.0', 'r/gw:v1.2.0')], ('latest', 'v'))
    """
    releases: list[Release] = []
    left: list[str] = []
    for tag in tags:
        if tag.startswith(prefix) and len(tag) > len(prefix):
            releases.append(Release(version=tag[len(prefix) :], url=reference(tag)))
        else:
            left.append(tag)
    return tuple(releases), tuple(left)
