"""Which OSV ecosystem an asset's packages live in, e.g. ``Debian:12``.

Matching, baselines, drift and planning all ask this of an asset, so it lives beneath them.
"""

from __future__ import annotations

from patchwarden.domain.assets import AssetBase

__all__ = ["OS_FAMILY_ECOSYSTEM", "asset_ecosystem", "osv_release"]

OS_FAMILY_ECOSYSTEM: dict[str, str] = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alma": "AlmaLinux",
    "rocky": "Rocky Linux",
    "rhel": "Red Hat",
    "alpine": "Alpine",
}
"""OS family (as in :class:`~patchwarden.domain.assets.OsInfo`) -> OSV ecosystem name."""

# OSV names these releases by major version (Debian:12, AlmaLinux:9) and Alpine by
# major.minor (Alpine:v3.19), while hosts and SBOMs say 12.5, 9.4 or 3.19.1.
_RELEASE_PARTS = {"debian": 1, "almalinux": 1, "rocky linux": 1, "red hat": 1, "alpine": 2}


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


def osv_release(ecosystem: str, release: str) -> str:
    """``release`` cut to the parts OSV names ``ecosystem``'s releases by; others as given.

    Example:
        >>> osv_release("Debian", "12.5"), osv_release("alpine", "3.19.1")
        ('12', '3.19')
        >>> osv_release("Ubuntu", "22.04")
        '22.04'
    """
    parts = _RELEASE_PARTS.get(ecosystem.lower())
    return ".".join(release.split(".")[:parts]) if parts else release
