"""Evidence stores: where reports, plans, change records and journals are kept for auditors.

Two backends behind one small protocol (:class:`EvidenceStore`):

- :class:`DirectoryEvidence`: a local directory (the default). Tiers do not exist on a
  disk, so each object's tier is recorded beside it (``<name>.tier``) and lifecycle rules
  are carried out by patchwarden.
- :class:`AzureBlobEvidence`: a container of an Azure storage account, through
  ``azure-storage-blob`` with a SAS (never the account key): objects are block blobs
  uploaded with the ``Hot`` tier, their SHA-256 in the blob's metadata, moved between
  tiers with Set Blob Tier. The service encrypts every blob at rest; what it reports
  (``server_encrypted``) is kept with each object.

Names are relative paths of plain parts (``reports/2026-12-01.html``); an object once
written is never overwritten (evidence is append-only): writing a name again is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from patchwarden.errors import DriverError, TransientDriverError

__all__ = [
    "AzureBlobEvidence",
    "DirectoryEvidence",
    "EvidenceObject",
    "EvidenceStore",
    "Tier",
    "check_name",
]

Tier = Literal["hot", "cool", "archive"]
"""An object's access tier: hot when written, then cool and archive as it ages."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_name(name: str) -> str:
    """``name`` if it is a relative path of plain parts, else an error.

    Example:
        >>> check_name("reports/2026-12-01.html")
        'reports/2026-12-01.html'
        >>> check_name("../etc/passwd")
        Traceback (most recent call last):
        ...
        patchwarden.errors.DriverError: evidence name '../etc/passwd': use parts of letters, digits, '.', '_' and '-' joined by '/'
    """  # noqa: E501 - a doctest's expected output is one line
    if not _NAME.match(name) or ".." in name.split("/") or name.endswith(".tier"):
        raise DriverError(
            f"evidence name {name!r}: use parts of letters, digits, '.', '_' and '-' joined by '/'"
        )
    return name


@dataclass(frozen=True)
class EvidenceObject:
    """One kept object.

    Attributes:
        name: Its name in the store.
        size: Bytes.
        sha256: Its SHA-256, as recorded when it was written.
        tier: Its access tier now.
        written: When it was written (aware, UTC).
        encrypted: Whether the service reports it encrypted at rest (``None``: not said).
    """

    name: str
    size: int
    sha256: str
    tier: Tier
    written: datetime
    encrypted: bool | None = None


class EvidenceStore(Protocol):
    """Where evidence is kept."""

    location: str

    def put(self, name: str, data: bytes) -> EvidenceObject:
        """Write a new object (hot). Raises DriverError if the name is taken."""
        ...

    def get(self, name: str) -> bytes:
        """An object's content. Raises DriverError if there is none."""
        ...

    def list(self) -> list[EvidenceObject]:
        """Every object, by name."""
        ...

    def set_tier(self, name: str, tier: Tier) -> None:
        """Move an object to ``tier``."""
        ...

    def delete(self, name: str) -> None:
        """Delete an object (its retention is over)."""
        ...


class DirectoryEvidence:
    """Evidence in a local directory; tiers recorded beside each object."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def put(self, name: str, data: bytes) -> EvidenceObject:
        """Write ``data`` as ``name``, hot; refuse a name already written."""
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("xb") as out:
                out.write(data)
        except FileExistsError:
            raise DriverError(f"evidence {name!r} exists; evidence is never overwritten") from None
        path.with_name(path.name + ".tier").write_text("hot\n")
        return self._object(path)

    def get(self, name: str) -> bytes:
        """The content of ``name``."""
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise DriverError(f"no evidence {name!r} in {self.location}") from None

    def list(self) -> list[EvidenceObject]:
        """Every object under the root."""
        if not self.root.exists():
            return []
        return sorted(
            (self._object(p) for p in self.root.rglob("*") if p.is_file() and p.suffix != ".tier"),
            key=lambda o: o.name,
        )

    def set_tier(self, name: str, tier: Tier) -> None:
        """Record the tier beside the object (a disk has none of its own)."""
        path = self._path(name)
        if not path.exists():
            raise DriverError(f"no evidence {name!r} in {self.location}")
        path.with_name(path.name + ".tier").write_text(f"{tier}\n")

    def delete(self, name: str) -> None:
        """Remove the object and its tier record."""
        path = self._path(name)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".tier").unlink(missing_ok=True)

    def _object(self, path: Path) -> EvidenceObject:
        data = path.read_bytes()
        tier_file = path.with_name(path.name + ".tier")
        tier = tier_file.read_text().strip() if tier_file.exists() else "hot"
        return EvidenceObject(
            name=path.relative_to(self.root).as_posix(),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            tier=_TIERS.get(tier, "hot"),
            written=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )


_TIERS: dict[str, Tier] = {"hot": "hot", "cool": "cool", "archive": "archive"}


class AzureBlobEvidence:
    """Evidence in a container of an Azure storage account, through a SAS."""

    def __init__(self, endpoint: str, container: str, sas: str, timeout_s: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.container = container
        self.location = f"{self.endpoint}/{container}"
        self._sas = sas
        self._timeout = timeout_s

    def __repr__(self) -> str:  # the SAS is a secret
        return f"AzureBlobEvidence({self.location!r})"

    def _client(self) -> Any:
        try:
            from azure.storage.blob import ContainerClient  # noqa: PLC0415 - optional extra
        except ImportError:
            raise DriverError(
                "an Azure evidence store needs azure-storage-blob: pip install 'patchwarden[azure]'"
            ) from None
        return ContainerClient(
            self.endpoint,
            self.container,
            credential=self._sas,
            connection_timeout=self._timeout,
            read_timeout=self._timeout,
        )

    def _call(self, what: str, action: Any) -> Any:
        from azure.core.exceptions import (  # noqa: PLC0415 - optional extra
            AzureError,
            ResourceExistsError,
            ResourceNotFoundError,
        )

        client = self._client()
        try:
            return action(client)
        except ResourceExistsError:
            raise DriverError(f"evidence {what} exists; evidence is never overwritten") from None
        except ResourceNotFoundError:
            raise DriverError(f"no evidence {what} in {self.location}") from None
        except AzureError as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise TransientDriverError(f"{self.location}: {what}: {first}") from None
        finally:
            client.close()

    def put(self, name: str, data: bytes) -> EvidenceObject:
        """Upload a new block blob, hot, with its SHA-256 in its metadata."""
        check_name(name)
        digest = hashlib.sha256(data).hexdigest()

        from azure.storage.blob import StandardBlobTier  # noqa: PLC0415 - optional extra

        def upload(client: Any) -> EvidenceObject:
            blob = client.upload_blob(
                name,
                data,
                overwrite=False,
                standard_blob_tier=StandardBlobTier.HOT,
                metadata={"sha256": digest},
            )
            return self._object(blob.get_blob_properties())

        result: EvidenceObject = self._call(repr(name), upload)
        return result

    def get(self, name: str) -> bytes:
        """Download a blob."""
        data: bytes = self._call(repr(name), lambda c: c.download_blob(check_name(name)).readall())
        return data

    def list(self) -> list[EvidenceObject]:
        """Every blob of the container."""
        blobs = self._call("list", lambda c: list(c.list_blobs(include=["metadata"])))
        return sorted((self._object(b) for b in blobs), key=lambda o: o.name)

    def set_tier(self, name: str, tier: Tier) -> None:
        """Set Blob Tier: ``Hot``, ``Cool`` or ``Archive``."""
        from azure.storage.blob import StandardBlobTier  # noqa: PLC0415 - optional extra

        wanted = StandardBlobTier(tier.capitalize())
        self._call(
            repr(name),
            lambda c: c.get_blob_client(check_name(name)).set_standard_blob_tier(wanted),
        )

    def delete(self, name: str) -> None:
        """Delete a blob."""
        self._call(repr(name), lambda c: c.delete_blob(check_name(name)))

    @staticmethod
    def _object(props: Any) -> EvidenceObject:
        tier = str(getattr(props, "blob_tier", None) or "hot").lower()
        return EvidenceObject(
            name=props.name,
            size=int(props.size or 0),
            sha256=str((props.metadata or {}).get("sha256", "")),
            tier=_TIERS.get(tier, "hot"),
            written=props.creation_time or props.last_modified,
            encrypted=getattr(props, "server_encrypted", None),
        )
