"""Storage accounts against their baseline: each gap a finding with a reason and a due date.

The rules (the customer's side of the shared-responsibility table: the provider keeps the
hardware and the service patched; who may read the data, and how it is kept, is ours):

=====================  ========  ==========================================================
rule                   severity  holds when
=====================  ========  ==========================================================
encryption_at_rest     high      data is encrypted at rest
encryption_in_transit  high      only encrypted connections are accepted
min_tls                medium    the oldest TLS accepted is 1.2 or newer
public_access          high      no anonymous reads (no public container)
redundancy             medium    geo-redundant (``geo`` or ``geo_zone``) for high and
                                 critical data; any redundancy otherwise
recoverability         medium    in prod: versioning or soft delete is on
lifecycle              low       an account holding logs (role ``logs``) has a lifecycle
                                 rule that archives or deletes them
=====================  ========  ==========================================================

A setting the service reports (:class:`~patchwarden.domain.storage.StorageObservation`)
wins over the inventory's; each gap names where its setting came from. Due dates follow
the policy's service levels by severity, counted from ``today``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar

from patchwarden.assess.policy import Policy
from patchwarden.assess.sla import due_date
from patchwarden.domain.advisories import Severity
from patchwarden.domain.assets import Criticality, StorageAccount
from patchwarden.domain.storage import SettingSource, StorageGap, StorageObservation

__all__ = ["RULES", "check_storage_account", "check_storage_accounts"]

RULES: tuple[str, ...] = (
    "encryption_at_rest",
    "encryption_in_transit",
    "min_tls",
    "public_access",
    "redundancy",
    "recoverability",
    "lifecycle",
)
"""Every baseline rule, in the order gaps are reported."""

_GEO = ("geo", "geo_zone")
_T = TypeVar("_T")


def check_storage_account(
    account: StorageAccount,
    observed: StorageObservation | None,
    today: date,
    policy: Policy | None = None,
) -> list[StorageGap]:
    """The baseline gaps of one storage account, in :data:`RULES` order.

    Example:
        >>> acct = StorageAccount(id="logs", kind="storage_account", env="prod",
        ...     storage_type="object", roles=("logs",), criticality="high")
        >>> [(g.rule, g.severity.value, g.source) for g in
        ...  check_storage_account(acct, None, date(2026, 12, 1))]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('redundancy', 'medium', 'inventory'), ('recoverability', 'medium', 'inventory'),
         ('lifecycle', 'low', 'inventory')]
        >>> seen = StorageObservation(redundancy="geo", soft_delete_days=7,
        ...                           public_containers=("site",))
        >>> [(g.rule, g.source) for g in check_storage_account(acct, seen, date(2026, 12, 1))]
        [('public_access', 'service'), ('lifecycle', 'inventory')]
    """
    rules = policy or Policy()
    seen = observed or StorageObservation()
    gaps: list[StorageGap] = []

    def gap(rule: str, severity: Severity, reason: str, fix: str, source: SettingSource) -> None:
        gaps.append(
            StorageGap(
                asset_id=account.id,
                env=account.env,
                rule=rule,
                severity=severity,
                reason=reason,
                fix=fix,
                source=source,
                due=due_date(severity, today, rules),
            )
        )

    if not account.encryption.at_rest:
        gap("encryption_at_rest", Severity.HIGH, "data is stored unencrypted",
            "turn on encryption at rest (`encryption: {at_rest: true}`)", "inventory")  # fmt: skip
    if not account.encryption.in_transit:
        gap("encryption_in_transit", Severity.HIGH, "plain HTTP connections are accepted",
            "require secure transfer (HTTPS only)", "inventory")  # fmt: skip
    if account.min_tls < "1.2":
        gap("min_tls", Severity.MEDIUM, f"TLS {account.min_tls} is still accepted",
            "set the minimum TLS version to 1.2", "inventory")  # fmt: skip
    if seen.public_containers is not None:
        if seen.public_containers:
            names = ", ".join(seen.public_containers)
            gap("public_access", Severity.HIGH, f"anonymous reads allowed on: {names}",
                "set each container's public access to private", "service")  # fmt: skip
    elif account.public_access:
        gap("public_access", Severity.HIGH, "anonymous reads are allowed",
            "turn off public (anonymous) access", "inventory")  # fmt: skip
    redundancy, source = _setting(seen.redundancy, account.redundancy)
    wants_geo = account.criticality in (Criticality.HIGH, Criticality.CRITICAL)
    if wants_geo and redundancy not in _GEO:
        gap("redundancy", Severity.MEDIUM,
            f"{account.criticality.value} data kept with {redundancy} redundancy only",
            "use geo-redundant storage (geo or geo_zone)", source)  # fmt: skip
    if account.env == "prod":
        versioning, v_source = _setting(seen.versioning, account.versioning)
        days, d_source = _setting(seen.soft_delete_days, account.soft_delete_days)
        if not versioning and not days:
            where: SettingSource = "service" if "service" in (v_source, d_source) else "inventory"
            gap("recoverability", Severity.MEDIUM,
                "in prod, neither versioning nor soft delete is on",
                "turn on versioning or soft delete (e.g. 14 days)", where)  # fmt: skip
    if "logs" in account.roles and not any(
        r.action in ("archive", "delete") for r in account.lifecycle
    ):
        gap("lifecycle", Severity.LOW, "logs are kept with no rule to archive or delete them",
            "add a lifecycle rule, e.g. {after_days: 90, action: archive}",
            "inventory")  # fmt: skip
    return gaps


def _setting(observed: _T | None, declared: _T) -> tuple[_T, SettingSource]:
    """The service's value where it gave one, else the inventory's, and which it was."""
    if observed is not None:
        return observed, "service"
    return declared, "inventory"


def check_storage_accounts(
    accounts: Sequence[StorageAccount],
    observed: dict[str, StorageObservation],
    today: date,
    policy: Policy | None = None,
) -> list[StorageGap]:
    """Every gap of every account, accounts in the given order."""
    return [
        g for a in accounts for g in check_storage_account(a, observed.get(a.id), today, policy)
    ]
