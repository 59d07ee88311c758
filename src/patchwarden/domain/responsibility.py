"""Who patches what: the shared-responsibility model as one table of data.

The owner of a layer depends on the service model alone; an asset's owner is the owner
of the layer its patches land in (its *patch layer*). An application on PaaS is the
customer's, while the runtime and OS beneath it are the provider's; a hypervisor in a public
cloud (IaaS) is the provider's, on bare metal or on premises it is the customer's.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchwarden.domain.assets import AssetBase, Kind, Layer, Owner, ServiceModel

__all__ = [
    "KIND_LAYERS",
    "RESPONSIBILITY",
    "LayerOwner",
    "Responsibility",
    "owner_of",
    "responsibility_of",
]

P, C = Owner.PROVIDER, Owner.CUSTOMER
_M = ServiceModel
_L = Layer

# RESPONSIBILITY[service model][layer] -> owner. Columns follow the usual cloud matrix: the
# further right the model, the more of the stack the provider patches. Data is always the
# customer's; on premises everything is.
RESPONSIBILITY: dict[ServiceModel, dict[Layer, Owner]] = {
    _M.ON_PREM: dict.fromkeys(Layer, C),
    _M.BARE_METAL: {**dict.fromkeys(Layer, C), _L.HARDWARE: P},
    _M.IAAS: {
        _L.HARDWARE: P,
        _L.HYPERVISOR: P,
        _L.STORAGE_FIRMWARE: P,
        _L.OS: C,
        _L.RUNTIME: C,
        _L.APPLICATION: C,
        _L.APPLIANCE_FIRMWARE: C,  # a vendor appliance you run: the vendor ships, you apply
        _L.DATA: C,
    },
    _M.PAAS: {
        _L.HARDWARE: P,
        _L.HYPERVISOR: P,
        _L.STORAGE_FIRMWARE: P,
        _L.OS: P,
        _L.RUNTIME: P,
        _L.APPLIANCE_FIRMWARE: P,
        _L.APPLICATION: C,
        _L.DATA: C,
    },
    _M.SAAS: {**dict.fromkeys(Layer, P), _L.DATA: C},
}

# KIND_LAYERS[kind] = (patch layer, layers beneath it). The patch layer is where that
# kind's updates land; the layers beneath are shown so people see the whole split.
KIND_LAYERS: dict[Kind, tuple[Layer, tuple[Layer, ...]]] = {
    Kind.HYPERVISOR: (_L.HYPERVISOR, (_L.HARDWARE,)),
    Kind.VM: (_L.OS, (_L.HYPERVISOR, _L.HARDWARE)),
    Kind.IMAGE: (_L.OS, ()),
    Kind.VIRTUAL_APPLIANCE: (_L.APPLIANCE_FIRMWARE, (_L.HYPERVISOR, _L.HARDWARE)),
    Kind.APPLICATION: (_L.APPLICATION, (_L.RUNTIME, _L.OS)),
    Kind.STORAGE_SYSTEM: (_L.STORAGE_FIRMWARE, (_L.HARDWARE,)),
    Kind.CLUSTER: (_L.RUNTIME, (_L.OS, _L.HYPERVISOR)),
    Kind.LOAD_BALANCER: (_L.RUNTIME, (_L.OS, _L.HYPERVISOR)),
    Kind.STORAGE_ACCOUNT: (_L.DATA, (_L.STORAGE_FIRMWARE, _L.HARDWARE)),
}


@dataclass(frozen=True)
class LayerOwner:
    """The owner of one layer of an asset."""

    layer: Layer
    owner: Owner


@dataclass(frozen=True)
class Responsibility:
    """Who patches an asset, and why, layer by layer."""

    asset_id: str
    owner: Owner
    service_model: ServiceModel
    patch_layer: Layer
    layers: tuple[LayerOwner, ...]

    @property
    def reason(self) -> str:
        """One sentence a person can read, e.g. for ``inventory show --owner``."""
        head = (
            f"{self.patch_layer.value} layer under {self.service_model.value} "
            f"is the {self.owner.value}'s"
        )
        others = [lo for lo in self.layers if lo.layer != self.patch_layer]
        if not others:
            return head
        parts = ", ".join(f"{lo.layer.value}: {lo.owner.value}" for lo in others)
        return f"{head} (beneath it {parts})"


def responsibility_of(asset: AssetBase) -> Responsibility:
    """Look an asset up in the responsibility table.

    Example:
        >>> from patchwarden.domain.assets import Application
        >>> app = Application(id="crm", kind="application", env="prod", hosting="saas")
        >>> responsibility_of(app).owner.value
        'provider'
    """
    kind = Kind(str(getattr(asset, "kind")))  # noqa: B009 - kind lives on each subclass
    patch_layer, beneath = KIND_LAYERS[kind]
    column = RESPONSIBILITY[asset.service_model]
    layers = tuple(LayerOwner(layer, column[layer]) for layer in (patch_layer, *beneath))
    return Responsibility(asset.id, column[patch_layer], asset.service_model, patch_layer, layers)


def owner_of(asset: AssetBase) -> Owner:
    """The owner of an asset's patch layer."""
    return responsibility_of(asset).owner
