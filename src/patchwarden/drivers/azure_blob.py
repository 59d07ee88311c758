"""Azure Blob storage accounts: the settings the service's data plane tells, read for checks.

Configuration (a storage account's ``driver: azure_blob``)::

    driver: azure_blob
    driver_config:
      endpoint: https://acmelogs.blob.core.windows.net
      sas_env: ACMELOGS_SAS        # the variable holding a SAS token; never the account key

Least privilege: the driver takes a shared access signature from the environment (an
account SAS for the service and container resource types with read and list rights is
enough), and refuses an account key in its configuration. It reads, with
``azure-storage-blob``:

- the SKU (``get_account_information``): the redundancy (``Standard_RAGRS`` is ``geo``);
- the blob service properties: the delete-retention (soft delete) policy;
- each container's public access level.

Encryption, the minimum TLS version and versioning belong to the management plane, which
this API does not show: those come from the inventory, and the check says so. Needs
``pip install 'patchwarden[azure]'``; tested against Azurite, Microsoft's emulator.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from patchwarden.domain.assets import StorageAccount
from patchwarden.domain.channels import ChannelUrl
from patchwarden.domain.storage import StorageObservation
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["DRIVER", "AzureBlobAccount", "AzureBlobSettings", "redundancy_of_sku"]

_SKU_REDUNDANCY: dict[str, Literal["local", "zone", "geo", "geo_zone"]] = {
    "LRS": "local",
    "ZRS": "zone",
    "GRS": "geo",
    "RAGRS": "geo",
    "GZRS": "geo_zone",
    "RAGZRS": "geo_zone",
}


class AzureBlobSettings(BaseModel):
    """A storage account's ``driver_config`` for ``driver: azure_blob``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: ChannelUrl
    sas_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


def redundancy_of_sku(sku: str) -> Literal["local", "zone", "geo", "geo_zone"] | None:
    """The redundancy an Azure SKU name stands for; ``None`` for one not known.

    Example:
        >>> redundancy_of_sku("Standard_RAGRS"), redundancy_of_sku("Premium_LRS")
        ('geo', 'local')
    """
    return _SKU_REDUNDANCY.get(sku.rpartition("_")[2].upper())


class AzureBlobAccount:
    """Reads one account's settings through its blob endpoint with a SAS."""

    def __init__(self, settings: AzureBlobSettings, sas: str) -> None:
        self.settings = settings
        self._sas = sas

    def __repr__(self) -> str:  # the SAS is a secret: never in a repr or a log
        return f"AzureBlobAccount(endpoint={self.settings.endpoint!r})"

    def client(self) -> Any:
        """A ``BlobServiceClient`` for the endpoint, authorised by the SAS."""
        try:
            from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - optional extra
        except ImportError:
            raise DriverError(
                "the azure_blob driver needs azure-storage-blob: pip install 'patchwarden[azure]'"
            ) from None
        return BlobServiceClient(
            account_url=self.settings.endpoint,
            credential=self._sas,
            connection_timeout=self.settings.timeout_s,
            read_timeout=self.settings.timeout_s,
        )

    def read(self) -> StorageObservation:
        """What the service says about redundancy, soft delete and public containers.

        Raises:
            TransientDriverError: The service could not be reached or refused the SAS.
        """
        from azure.core.exceptions import AzureError  # noqa: PLC0415 - optional extra

        client = self.client()
        try:
            info = client.get_account_information()
            properties = client.get_service_properties()
            public = tuple(
                sorted(c.name for c in client.list_containers() if c.public_access is not None)
            )
        except AzureError as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise TransientDriverError(f"{self.settings.endpoint}: {first}") from None
        finally:
            client.close()
        retention = properties.get("delete_retention_policy")
        days = int(retention.days or 0) if retention is not None and retention.enabled else 0
        return StorageObservation(
            redundancy=redundancy_of_sku(str(info.get("sku_name", ""))),
            soft_delete_days=days,
            public_containers=public,
            endpoint=self.settings.endpoint,
        )


def build_azure_blob(settings: AzureBlobSettings, context: DriverContext) -> AzureBlobAccount:
    """The reader of one storage account asset; its SAS from the named variable.

    Raises:
        DriverError: The variable is not set.
    """
    if not isinstance(context.asset, StorageAccount):
        raise DriverError("the azure_blob driver reads storage_account assets")
    sas = os.environ.get(settings.sas_env, "")
    if not sas:
        raise DriverError(
            f"{context.asset.id}: set {settings.sas_env} to a SAS token of the account "
            "(read and list rights on service and containers)"
        )
    return AzureBlobAccount(settings, sas)


DRIVER = DriverSpec(
    kind=DriverKind.STORAGE_ACCOUNT,
    name="azure_blob",
    config=AzureBlobSettings,
    factory=build_azure_blob,
    summary="Azure Blob storage through its data plane, with a SAS: SKU, soft delete, access",
)
"""The entry point ``storage_account.azure_blob``."""
