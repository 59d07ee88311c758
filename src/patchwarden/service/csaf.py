"""Reading CSAF: documents, and a provider's ``provider-metadata.json`` → ROLIE feeds → documents.

A CSAF provider publishes ``provider-metadata.json``; its ``distributions`` list ROLIE
feeds, each entry of which links a document (``rel: self``) and its hash (``rel: hash``,
a ``.sha256`` or ``.sha512`` file). Every document is fetched and its hash checked before
it is parsed: a mismatch stops the import (nothing is stored), since a document that is not
what its publisher hashed is not to be trusted. Relative links are resolved against the
file that holds them. Distributions by ``directory_url`` are reported, not followed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from patchwarden.domain.advisories import Advisory
from patchwarden.drivers.fetch import FetchResult, fetch
from patchwarden.feeds.csaf import InvalidCsaf, parse_csaf, revision_key

__all__ = ["Fetcher", "is_older_revision", "read_document", "read_provider", "read_rolie"]

Fetcher = Callable[..., FetchResult]
"""``fetch(url) -> FetchResult``, as :func:`patchwarden.drivers.fetch.fetch`."""

_HASHES = {".sha256": "sha256", ".sha512": "sha512"}


def _json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidCsaf(f"{name}: not JSON ({error}); a CSAF file is UTF-8 JSON") from None


def read_document(name: str, data: bytes, warnings: list[str]) -> Advisory:
    """One CSAF document's bytes as an advisory.

    Raises:
        InvalidCsaf: not JSON, or not a usable CSAF 2.0 document (file and JSON path named).
    """
    return parse_csaf(_json(name, data), name, warnings)


def read_provider(
    name: str, data: bytes, warnings: list[str], fetcher: Fetcher = fetch
) -> list[Advisory]:
    """Every document of every ROLIE feed a ``provider-metadata.json`` lists.

    ``name`` is the file's URL (or path): relative feed links are resolved against it.

    Raises:
        InvalidCsaf: the metadata, a feed or a document is malformed, or a hash differs.
        DriverError: a feed or document could not be fetched.
    """
    meta = _json(name, data)
    if not isinstance(meta, Mapping) or not isinstance(meta.get("distributions"), list):
        raise InvalidCsaf(f"{name}: /distributions: missing; a provider-metadata.json lists them")
    out: list[Advisory] = []
    for i, dist in enumerate(meta["distributions"]):
        where = f"{name}: /distributions/{i}"
        if not isinstance(dist, Mapping):
            raise InvalidCsaf(f"{where}: must be a JSON object")
        if "directory_url" in dist and "rolie" not in dist:
            warnings.append(f"{where}: directory_url distributions are not read; use ROLIE")
        feeds = (
            dist.get("rolie", {}).get("feeds", []) if isinstance(dist.get("rolie"), Mapping) else []
        )
        for j, feed in enumerate(feeds):
            url = feed.get("url") if isinstance(feed, Mapping) else None
            if not isinstance(url, str):
                raise InvalidCsaf(f"{where}/rolie/feeds/{j}/url: missing; the ROLIE feed's URL")
            url = urljoin(name, url)
            out.extend(read_rolie(url, fetcher(url).body, warnings, fetcher))
    return out


def read_rolie(
    name: str, data: bytes, warnings: list[str], fetcher: Fetcher = fetch
) -> list[Advisory]:
    """Every document a ROLIE feed lists, each checked against its published hash.

    Raises:
        InvalidCsaf: the feed or a document is malformed, or a document's hash differs.
        DriverError: a document or hash could not be fetched.
    """
    feed = _json(name, data)
    entries = feed.get("feed", {}).get("entry") if isinstance(feed, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidCsaf(f"{name}: /feed/entry: missing; a ROLIE feed lists its entries there")
    out: list[Advisory] = []
    for i, entry in enumerate(entries):
        where = f"{name}: /feed/entry/{i}"
        links = dict(_links(entry, where))
        src = links.get("self") or _content_src(entry)
        if not src:
            raise InvalidCsaf(f"{where}: no link with rel self (or content.src) to the document")
        url = urljoin(name, src)
        body = fetcher(url).body
        hash_url = links.get("hash")
        if hash_url:
            _check_hash(url, body, urljoin(name, hash_url), fetcher)
        else:
            warnings.append(f"{url}: the feed links no hash; the document was not checked")
        out.append(read_document(url, body, warnings))
    return out


def _links(entry: Any, where: str) -> Iterator[tuple[str, str]]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("link", []), list):
        raise InvalidCsaf(f"{where}: must be a JSON object with a list of links")
    for link in entry.get("link", []):
        if isinstance(link, Mapping) and isinstance(link.get("href"), str):
            rel = str(link.get("rel", ""))
            # A feed may link both a .sha256 and a .sha512; either proves the document.
            yield rel, link["href"]


def _content_src(entry: Mapping[str, Any]) -> str:
    content = entry.get("content")
    src = content.get("src") if isinstance(content, Mapping) else None
    return src if isinstance(src, str) else ""


def _check_hash(url: str, body: bytes, hash_url: str, fetcher: Fetcher) -> None:
    algorithm = next((a for suffix, a in _HASHES.items() if hash_url.endswith(suffix)), None)
    if algorithm is None:
        raise InvalidCsaf(f"{hash_url}: a CSAF hash file ends in .sha256 or .sha512")
    words = fetcher(hash_url).body.decode("ascii", errors="replace").split()
    expected = words[0].lower() if words else ""
    actual = hashlib.new(algorithm, body).hexdigest()
    if expected != actual:
        raise InvalidCsaf(
            f"{url}: {algorithm.upper()} is {actual}, but {hash_url} says {expected or 'nothing'};"
            " the document is not what its publisher hashed, nothing was imported"
        )


def is_older_revision(new: Advisory, old: Advisory) -> bool:
    """Whether ``new`` is an older revision of the CSAF document ``old`` (then ``old`` stays).

    Example:
        >>> from datetime import datetime, UTC
        >>> def rev(r): return Advisory(id="D", modified=datetime(2024, 1, 1, tzinfo=UTC),
        ...     database_specific={"csaf": {"revision": r}})
        >>> is_older_revision(rev("1.0.0"), rev("3.0.0"))
        True
        >>> is_older_revision(rev("3.1.0"), rev("3.0.0"))
        False
    """
    a, b = new.database_specific.get("csaf"), old.database_specific.get("csaf")
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    return revision_key(str(a.get("revision", ""))) < revision_key(str(b.get("revision", "")))
