"""Which OSV ecosystem an asset's packages live in, e.g. ``Debian:12``.

Matching, baselines, drift and planning all ask this of an asset, so it lives beneath them.
"""

from __future__ import annotations

from patchwarden.domain.assets import AssetBase

__all__ = ["OS_FAMILY_ECOSYSTEM", "asset_ecosystem"]

OS_FAMILY_ECOSYSTEM: dict[str, str] = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alma": "AlmaLinux",
    "rocky": "Rocky Linux",
    "rhel": "Red Hat",
    "alpine": "Alpine",
}
"""OS family (as in :class:`~patchwarden.domain.assets.OsInfo`) -> OSV ecosystem name."""


def asset_ecosystem(asset: AssetBase) -> str:
    """The OSV ecosystem of an asset's packages, e.g. ``Debian:12``; ``""`` if unknown.

    Example:
        >>> from patchwarden.domain.assets import Vm
        >>> vm = Vm(id="web-01", kind="vm", env="dev", os={"family": "debian", "release": "12"})
        >>> asset_ecosystem(vm)
        'Debian:12'
    """
    if asset.ecosystem:
        return asset.ecosystem
    if asset.os is None or asset.os.family not in OS_FAMILY_ECOSYSTEM:
        return ""
    name = OS_FAMILY_ECOSYSTEM[asset.os.family]
    return f"{name}:{asset.os.release}" if asset.os.release else name
