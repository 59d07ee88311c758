"""Reading CSAF: documents, and a provider's ``provider-metadata.json`` → ROLIE feeds → documents.

A CSAF provider publishes ``provider-metadata.json``; its ``distributions`` list ROLIE
feeds, each entry of which links a document (``rel: self``) and its hash (``rel: hash``,
a ``.sha256`` or ``.sha512`` file). Every document is fetched and its hash checked before
it is parsed: a mismatch stops the import (nothing is stored), since a document that is not
what its publisher hashed is not to be trusted. Relative links are resolved against the
file that holds them. Distributions by ``directory_url`` are reported, not followed.

Signatures: a provider lists its OpenPGP keys in ``public_openpgp_keys`` (``url`` and
``fingerprint``). Each key is fetched and imported into a keyring of its own
(:class:`patchwarden.drivers.openpgp.OpenPgpKeyring`), refused unless its fingerprint is
the announced one. A feed entry that links a signature (``rel: signature``, the ``.asc``
published next to the document) is verified with that keyring before the document is
read: a bad signature, or one by another key, stops the import with nothing stored. An
entry without one is imported and reported ``unsigned``; each advisory records which it
was (``database_specific.csaf.signature``: ``verified <fingerprint>``, ``unsigned``, or
``not checked`` where no provider key was at hand, as when a feed is imported alone).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from patchwarden.domain.advisories import Advisory
from patchwarden.drivers.fetch import FetchResult, fetch
from patchwarden.drivers.openpgp import OpenPgpKey, OpenPgpKeyring, SignatureInvalid
from patchwarden.errors import DriverError
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
    keys = _provider_keys(name, meta, warnings, fetcher)
    keyring = _keyring(name, keys) if keys else None
    try:
        return _read_distributions(name, meta, warnings, fetcher, keyring)
    finally:
        if keyring is not None:
            keyring.close()


def _provider_keys(
    name: str, meta: Mapping[str, Any], warnings: list[str], fetcher: Fetcher
) -> list[OpenPgpKey]:
    """The keys ``public_openpgp_keys`` lists, fetched."""
    listed = meta.get("public_openpgp_keys", [])
    if not isinstance(listed, list):
        raise InvalidCsaf(f"{name}: /public_openpgp_keys: must be a list of {{url, fingerprint}}")
    keys: list[OpenPgpKey] = []
    for i, entry in enumerate(listed):
        url = entry.get("url") if isinstance(entry, Mapping) else None
        if not isinstance(url, str) or not url:
            raise InvalidCsaf(f"{name}: /public_openpgp_keys/{i}/url: missing; the key's URL")
        fingerprint = entry.get("fingerprint", "")
        if not isinstance(fingerprint, str):
            raise InvalidCsaf(f"{name}: /public_openpgp_keys/{i}/fingerprint: must be text")
        url = urljoin(name, url)
        if not fingerprint:
            warnings.append(f"{url}: no fingerprint announced; the key is trusted as fetched")
        keys.append(OpenPgpKey(fetcher(url).body, fingerprint, url))
    return keys


def _keyring(name: str, keys: list[OpenPgpKey]) -> OpenPgpKeyring:
    try:
        return OpenPgpKeyring(keys)
    except SignatureInvalid as error:  # pragma: no cover - import raises DriverError only
        raise InvalidCsaf(str(error)) from None
    except DriverError as error:
        if "fingerprint" in str(error) or "not an OpenPGP public key" in str(error):
            raise InvalidCsaf(f"{name}: {error}; nothing was imported") from None
        raise


def _read_distributions(
    name: str,
    meta: Mapping[str, Any],
    warnings: list[str],
    fetcher: Fetcher,
    keyring: OpenPgpKeyring | None,
) -> list[Advisory]:
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
            out.extend(read_rolie(url, fetcher(url).body, warnings, fetcher, keyring))
    return out


def read_rolie(
    name: str,
    data: bytes,
    warnings: list[str],
    fetcher: Fetcher = fetch,
    keyring: OpenPgpKeyring | None = None,
) -> list[Advisory]:
    """Every document a ROLIE feed lists, each checked against its published hash.

    With the provider's ``keyring``, an entry's signature (``rel: signature``) is verified
    too; an entry without one is reported unsigned.

    Raises:
        InvalidCsaf: the feed or a document is malformed, a document's hash differs, or its
            signature does not verify with the provider's keys.
        DriverError: a document, hash or signature could not be fetched.
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
        signature = _check_signature(url, body, links.get("signature"), name, keyring, fetcher)
        if signature == "unsigned":
            warnings.append(f"{url}: unsigned (the provider publishes no .asc signature for it)")
        advisory = read_document(url, body, warnings)
        out.append(_with_signature(advisory, signature))
    return out


def _check_signature(
    url: str,
    body: bytes,
    link: str | None,
    feed: str,
    keyring: OpenPgpKeyring | None,
    fetcher: Fetcher,
) -> str:
    """``verified <fingerprint>``, ``unsigned``, or ``not checked`` (no provider key)."""
    if not link:
        return "unsigned"
    if keyring is None:
        return "not checked"
    signature_url = urljoin(feed, link)
    try:
        signer = keyring.verify(body, fetcher(signature_url).body, url)
    except SignatureInvalid as error:
        raise InvalidCsaf(
            f"{error} ({signature_url}, keys {', '.join(keyring.fingerprints)}); "
            "the document is not what its publisher signed, nothing was imported"
        ) from None
    return f"verified {signer}"


def _with_signature(advisory: Advisory, signature: str) -> Advisory:
    csaf = advisory.database_specific.get("csaf")
    if not isinstance(csaf, Mapping):
        return advisory
    specific = {**advisory.database_specific, "csaf": {**csaf, "signature": signature}}
    return advisory.model_copy(update={"database_specific": specific})


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
