"""Compliance with a patch baseline: a state per asset and patch, and a verdict per asset.

States follow AWS Systems Manager's:

- ``installed``: an approved patch is installed;
- ``installed_other``: a patch the baseline does not approve is installed (or a rejected
  one, where the baseline allows rejected patches as dependencies);
- ``installed_pending_reboot``: installed, but the host has not rebooted since;
- ``installed_rejected``: a rejected patch is installed and the baseline blocks it;
- ``missing``: an approved patch applies and is not installed;
- ``failed``: an approved patch applies and installing it failed;
- ``not_applicable``: the package is not installed, or its version was never affected;
- ``provider_responsibility``: the provider patches the asset's layer.

An asset is compliant when none of its patches is missing, failed, pending reboot or
rejected.

Firmware is checked the same way, against the vendors' advisories (CSAF) rather than a
package baseline: every appliance or storage part that a CSAF document matches (see
:mod:`patchwarden.assess.firmware`) and for which the vendor publishes a fix gets a row
(package ``firmware`` or ``firmware:<part>``) whose target is that fix: ``missing``, or
``failed`` where flashing it failed, or ``provider_responsibility``. A finding without a
vendor fix is no patch to install (it stays a finding, deferred for want of a fix), and one
whose every CVE a vendor vouches ``known_not_affected`` is ``not_applicable``. Firmware at
or above the fix matches no longer, so it has no row. An asset no package baseline covers
is checked against :data:`VENDOR_ADVISORIES`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from patchwarden.assess.baseline import BaselinePatch, BaselineSnapshot
from patchwarden.assess.firmware import match_firmware
from patchwarden.assess.match import AdvisoryIndex, split_ecosystem
from patchwarden.assess.sources import by_source, source_keyed
from patchwarden.domain.advisories import FIRMWARE, Advisory
from patchwarden.domain.assets import AssetBase, Owner
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.responsibility import owner_of
from patchwarden.errors import PatchwardenError
from patchwarden.versions import compare, ecosystem_for

__all__ = [
    "NON_COMPLIANT",
    "VENDOR_ADVISORIES",
    "AssetCompliance",
    "PatchCompliance",
    "PatchState",
    "awaiting_reboot",
    "check_asset",
    "check_compliance",
    "firmware_compliance",
]


class PatchState(StrEnum):
    """The state of one patch on one asset."""

    INSTALLED = "installed"
    INSTALLED_OTHER = "installed_other"
    INSTALLED_PENDING_REBOOT = "installed_pending_reboot"
    INSTALLED_REJECTED = "installed_rejected"
    MISSING = "missing"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"
    PROVIDER_RESPONSIBILITY = "provider_responsibility"


NON_COMPLIANT = frozenset(
    {
        PatchState.MISSING,
        PatchState.FAILED,
        PatchState.INSTALLED_PENDING_REBOOT,
        PatchState.INSTALLED_REJECTED,
    }
)
"""States that make an asset non-compliant."""

VENDOR_ADVISORIES = "vendor advisories (CSAF)"
"""The baseline named for firmware checked against vendor advisories alone."""


@dataclass(frozen=True, kw_only=True)
class PatchCompliance:
    """One patch on one asset: what is installed, what the patch brings, and the state."""

    asset_id: str
    advisory_id: str
    package: str
    installed: str
    target: str
    state: PatchState


@dataclass(frozen=True, kw_only=True)
class AssetCompliance:
    """An asset's patches against its baseline snapshot."""

    asset_id: str
    env: str
    baseline: str
    snapshot_id: str
    patches: tuple[PatchCompliance, ...]

    @property
    def compliant(self) -> bool:
        """No patch missing, failed, pending reboot or rejected."""
        return not any(p.state in NON_COMPLIANT for p in self.patches)

    def counts(self) -> Counter[PatchState]:
        """Patches per state."""
        return Counter(p.state for p in self.patches)


def _same_release(patch_eco: str, asset_eco: str) -> bool:
    # "Debian:12" patches do not apply to a Debian 11 host; an ecosystem without a release
    # on either side applies to every release.
    a, b = patch_eco.split(":"), asset_eco.split(":")
    return a[0].lower() == b[0].lower() and (len(a) < 2 or len(b) < 2 or a[1] == b[1])


def _state_of(patch: BaselinePatch, version: str, affected_by: set[str], scheme: str) -> str:
    """``"at"`` (fix installed), ``"below"`` (affected, fix not installed) or ``"none"``."""
    try:
        if compare(scheme, version, patch.fixed) >= 0:
            return "at"
    except PatchwardenError:
        return "none"
    return "below" if patch.advisory_id in affected_by else "none"


def check_asset(
    asset: AssetBase,
    snapshot: BaselineSnapshot | None,
    index: AdvisoryIndex,
    *,
    pending_reboot: Collection[str] = (),
    failed: Collection[str] = (),
    others: Collection[BaselinePatch] = (),
) -> AssetCompliance:
    """Check one asset against a snapshot.

    Args:
        asset: The asset with its installed packages.
        snapshot: Its baseline's snapshot; ``None`` if no baseline covers it.
        index: The advisories (to tell "never affected" from "missing").
        pending_reboot: Packages installed on the asset since its last reboot.
        failed: Packages or advisory ids whose installation failed on the asset.
        others: Patches of the ecosystem neither approved nor rejected, to spot
            ``installed_other``.
    """
    ecosystem = asset_ecosystem(asset)
    name = snapshot.baseline if snapshot else ""
    ident = snapshot.id if snapshot else ""
    if snapshot is None or not ecosystem:
        return AssetCompliance(
            asset_id=asset.id, env=asset.env, baseline=name, snapshot_id=ident, patches=()
        )
    try:
        scheme = ecosystem_for(ecosystem)
    except PatchwardenError:
        scheme = ""
    provider = owner_of(asset) is Owner.PROVIDER
    rows: list[PatchCompliance] = []
    # Name -> (version, installed packages it stands for): Debian's and Ubuntu's patches
    # name source packages, held at the source version of the binaries built from them.
    installed_as: dict[str, tuple[str, tuple[str, ...]]]
    if source_keyed(split_ecosystem(ecosystem)[0]):
        installed_as = by_source(asset.packages, asset.package_sources, scheme or "deb")
    else:
        installed_as = {name: (v, (name,)) for name, v in asset.packages.items()}

    def add(patch: BaselinePatch, version: str, state: PatchState) -> None:
        rows.append(
            PatchCompliance(
                asset_id=asset.id,
                advisory_id=patch.advisory_id,
                package=patch.package,
                installed=version,
                target=patch.fixed,
                state=state,
            )
        )

    groups = (("approved", snapshot.approved), ("rejected", snapshot.rejected), ("other", others))
    for kind, patches in groups:
        for patch in patches:
            if not _same_release(patch.ecosystem, ecosystem):
                continue
            version, names = installed_as.get(patch.package, (None, ()))
            if version is None or not scheme:
                if kind == "approved":
                    add(patch, version or "", PatchState.NOT_APPLICABLE)
                continue
            affected_by = {a.id for a, _ in index.lookup(ecosystem, patch.package, version)}
            where = _state_of(patch, version, affected_by, scheme)
            if provider:
                if kind == "approved":
                    add(patch, version, PatchState.PROVIDER_RESPONSIBILITY)
            elif kind == "approved":
                add(patch, version, _approved_state(patch, where, names, pending_reboot, failed))
            elif where == "at" and kind == "rejected":
                blocked = snapshot.rejected_action == "block"
                add(
                    patch,
                    version,
                    PatchState.INSTALLED_REJECTED if blocked else PatchState.INSTALLED_OTHER,
                )
            elif where == "at":
                add(patch, version, PatchState.INSTALLED_OTHER)
    return AssetCompliance(
        asset_id=asset.id, env=asset.env, baseline=name, snapshot_id=ident, patches=tuple(rows)
    )


def awaiting_reboot(asset: AssetBase) -> frozenset[str]:
    """Packages of ``asset`` whose update waits for a reboot, by what its scan reported.

    The packages that asked for the reboot, where the host names them; where it asks for
    one without naming any, every installed package: what was installed since the last
    boot cannot be told apart, so none counts as in effect.

    Example:
        >>> from patchwarden.domain.assets import Vm
        >>> vm = Vm(id="h", kind="vm", env="dev", packages={"libc6": "2.36-9", "bash": "5.2"},
        ...         pending_reboot=True, pending_reboot_packages=("libc6",))
        >>> sorted(awaiting_reboot(vm)), sorted(awaiting_reboot(vm.model_copy(
        ...     update={"pending_reboot_packages": ()})))
        (['libc6'], ['bash', 'libc6'])
    """
    if not asset.pending_reboot:
        return frozenset()
    return frozenset(asset.pending_reboot_packages or asset.packages)


def _approved_state(
    patch: BaselinePatch,
    where: str,
    installed: Collection[str],
    pending_reboot: Collection[str],
    failed: Collection[str],
) -> PatchState:
    """``installed``: the packages the patch's package stands for (its binaries)."""
    names = {patch.package, *installed}
    if where == "at":
        if names & set(pending_reboot):
            return PatchState.INSTALLED_PENDING_REBOOT
        return PatchState.INSTALLED
    if where == "none":
        return PatchState.NOT_APPLICABLE
    if names & set(failed) or patch.advisory_id in failed:
        return PatchState.FAILED
    return PatchState.MISSING


def check_compliance(
    inventory: Inventory,
    snapshots: Mapping[str, BaselineSnapshot],
    advisories: Mapping[str, Advisory],
    *,
    candidates: Mapping[str, Collection[BaselinePatch]] | None = None,
    pending_reboot: Mapping[str, Collection[str]] | None = None,
    failed: Mapping[str, Collection[str]] | None = None,
) -> list[AssetCompliance]:
    """Check every asset against the snapshot of its baseline.

    Args:
        inventory: The estate.
        snapshots: Snapshots by lower-case OSV ecosystem base (``debian``, ``pypi``).
        advisories: Advisories by id.
        candidates: Every patch per ecosystem base, to report ``installed_other``.
        pending_reboot: Per asset, packages installed since its last reboot.
        failed: Per asset, packages or advisory ids whose installation failed.

    Returns:
        One :class:`AssetCompliance` per asset, in inventory order.
    """
    index = AdvisoryIndex(advisories.values())
    firmware = firmware_compliance(inventory, advisories.values(), failed or {})
    results = []
    for asset in inventory.assets:
        base = asset_ecosystem(asset).split(":", 1)[0].lower()
        snapshot = snapshots.get(base)
        known = snapshot.approved_keys() | snapshot.rejected_keys() if snapshot else frozenset()
        others = [p for p in (candidates or {}).get(base, ()) if p.key() not in known]
        result = check_asset(
            asset,
            snapshot,
            index,
            pending_reboot=(pending_reboot or {}).get(asset.id) or awaiting_reboot(asset),
            failed=(failed or {}).get(asset.id, ()),
            others=others,
        )
        rows = firmware.get(asset.id, ())
        if rows:
            result = replace(
                result,
                baseline=result.baseline or VENDOR_ADVISORIES,
                patches=(*result.patches, *rows),
            )
        results.append(result)
    return results


def firmware_compliance(
    inventory: Inventory,
    advisories: Iterable[Advisory],
    failed: Mapping[str, Collection[str]],
) -> dict[str, tuple[PatchCompliance, ...]]:
    """Firmware rows per asset id, from the vendors' advisories (see the module's rules).

    ``failed``: per asset, packages or advisory ids whose installation failed; a failed
    firmware step counts as ``firmware`` under its target (the appliance, or the part).

    Example:
        >>> firmware_compliance(Inventory(assets=()), [], {})
        {}
    """
    found = match_firmware(inventory, advisories)
    provider = {a.id for a in inventory.assets if owner_of(a) is Owner.PROVIDER}
    out: dict[str, list[PatchCompliance]] = {}
    for finding in found.findings:
        if finding.no_fix:
            continue
        cves = finding.aliases or (finding.advisory_id,)
        gone = (finding.package == FIRMWARE
                and all((finding.asset_id, cve) in found.not_affected for cve in cves))  # fmt: skip
        tried = failed.get(finding.asset_id, ())
        part = finding.package.partition(":")[2]
        flashed_and_failed = (
            finding.package in tried
            or finding.advisory_id in tried
            or (bool(part) and FIRMWARE in failed.get(part, ()))
        )
        if finding.asset_id in provider:
            state = PatchState.PROVIDER_RESPONSIBILITY
        elif gone:
            state = PatchState.NOT_APPLICABLE
        elif flashed_and_failed:
            state = PatchState.FAILED
        else:
            state = PatchState.MISSING
        out.setdefault(finding.asset_id, []).append(
            PatchCompliance(
                asset_id=finding.asset_id,
                advisory_id=finding.advisory_id,
                package=finding.package,
                installed=finding.installed,
                target=finding.fixed,
                state=state,
            )
        )
    return {asset: tuple(rows) for asset, rows in out.items()}
