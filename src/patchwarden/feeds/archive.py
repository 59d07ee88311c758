"""OSV's per-ecosystem ``all.zip`` and other multi-record containers, read from bytes.

OSV publishes ``https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip``:
one JSON file per record. Reading works on the bytes already fetched, so it stays pure.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from patchwarden.feeds.osv import InvalidRecord

__all__ = ["MAX_MEMBER_BYTES", "ZIP_MAGIC", "iter_json_records", "iter_osv_zip"]

ZIP_MAGIC = b"PK\x03\x04"
"""The first four bytes of a (non-empty) zip archive."""

MAX_MEMBER_BYTES = 64 * 1024 * 1024
"""Largest single record accepted from an archive: a guard against zip bombs."""


def iter_osv_zip(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, bytes)`` for every ``.json`` member of an OSV archive.

    Raises:
        InvalidRecord: the bytes are not a zip archive, or a member is corrupt or too big.

    Example:
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w") as z:
        ...     z.writestr("X-1.json", '{"id": "X-1"}')
        >>> [name for name, _ in iter_osv_zip(buf.getvalue())]
        ['X-1.json']
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise InvalidRecord(f"not a zip archive: {error}") from None
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise InvalidRecord(f"{info.filename}: {info.file_size} bytes is too big")
            try:
                yield info.filename, archive.read(info)
            except (zipfile.BadZipFile, OSError) as error:
                raise InvalidRecord(f"{info.filename}: corrupt zip member ({error})") from None


def iter_json_records(name: str, data: bytes | str) -> Iterator[Any]:
    """Yield the records of a JSON text: one object, or each item of a top-level list.

    Raises:
        InvalidRecord: the text is not JSON; the message names ``name``, line and column.
    """
    try:
        decoded: Any = json.loads(data)
    except json.JSONDecodeError as error:
        raise InvalidRecord(
            f"{name}: not JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except UnicodeDecodeError as error:
        raise InvalidRecord(f"{name}: not UTF-8 text ({error.reason})") from None
    if isinstance(decoded, list):
        yield from decoded
    else:
        yield decoded
