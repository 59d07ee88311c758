"""A realistic sample report, for tests, docs and trying out the renderers.

Twenty assets of every kind over four environments, findings of every severity, and a
three-wave campaign in which one staging host failed and one production host was rolled
back. The headline numbers, charts and tables are all derived from the per-asset rows, so
the sample is consistent with itself. Everything is fixed: the same call gives the same
report. Advisory ids are real-looking but the versions are illustrative.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

from patchwarden.report.model import (
    AssetReport,
    BaselineRow,
    BurndownPoint,
    CampaignReport,
    ChangeRow,
    DriftRow,
    EnvCompliance,
    FindingRow,
    MttrRow,
    OverdueRow,
    ReportData,
    RiskyAsset,
    StepRow,
    Summary,
    WaveRow,
)

__all__ = ["sample_report"]

_ENVS = ("dev", "qa", "staging", "prod")
_START = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
_BAD = ("critical", "high")

# key: (advisory, aliases, package, installed, fixed, severity, cvss, known exploited)
# Tables read best one row a line, so the formatter leaves them alone.
# fmt: off
_ADVISORIES: dict[str, tuple[str, tuple[str, ...], str, str, str, str, float | None, bool]] = {
    "xz":      ("DSA-5649-1", ("CVE-2024-3094",), "xz-utils", "5.6.0-0.2", "5.6.1+really5.4.5-1", "critical", 10.0, False),  # noqa: E501
    "curl":    ("DSA-5587-1", ("CVE-2023-38545",), "curl", "7.88.1-10+deb12u3", "7.88.1-10+deb12u4", "critical", 9.8, False),  # noqa: E501
    "fortios": ("FG-IR-24-015", ("CVE-2024-21762",), "fortios", "7.2.6", "7.2.7", "critical", 9.8, True),  # noqa: E501
    "ssh":     ("DSA-5724-1", ("CVE-2024-6387",), "openssh-server", "1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3", "high", 8.1, False),  # noqa: E501
    "nghttp2": ("DSA-5522-1", ("CVE-2023-44487",), "libnghttp2-14", "1.52.0-1", "1.52.0-1+deb12u1", "high", 7.5, True),  # noqa: E501
    "kernel":  ("DSA-5782-1", ("CVE-2024-36971",), "linux-image-amd64", "6.1.94-1", "6.1.106-3", "high", 7.8, True),  # noqa: E501
    "glibc":   ("DSA-5673-1", ("CVE-2024-2961",), "libc6", "2.36-9+deb12u4", "2.36-9+deb12u7", "high", 8.8, False),  # noqa: E501
    "openssl": ("DSA-5532-1", ("CVE-2023-5363",), "libssl3", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "medium", 5.3, False),  # noqa: E501
    "ontap":   ("VSA-2024-0007", (), "array-firmware", "9.12.1P8", "9.12.1P12", "medium", 6.5, False),  # noqa: E501
    "less":    ("DLA-3746-1", ("CVE-2022-48624",), "less", "590-2", "590-2.1~deb12u1", "low", 3.3, False),  # noqa: E501
    "tar":     ("CVE-2005-2541", (), "tar", "1.34+dfsg-1.2", "", "none", None, False),
}
# fmt: on

_REASONS = {
    "emergency": "critical or known exploited, and reachable: patched out of cycle",
    "next_window": "fix available: next maintenance window",
    "defer": "no exposure, compensating control: deferred to the quarterly window",
    "ignore": "no fix, not exploitable in this configuration",
}

_OWNER_REASONS = {
    "hypervisor": "on-premises hardware and hypervisor are ours",
    "vm": "IaaS: we patch the OS and everything above it",
    "image": "we build our own VM images",
    "virtual_appliance": "vendor firmware, applied by us",
    "cluster": "self-managed cluster nodes",
    "load_balancer": "our own HAProxy VMs",
    "storage_system": "on-premises array: we apply vendor firmware",
    "storage_account": "PaaS: the provider patches the platform; we own data and access",
    "application": "SaaS: the provider patches everything; we own accounts and data",
}

_STD = (("less", "defer"), ("tar", "ignore"))
_WEB = (("curl", "next_window"), ("nghttp2", "next_window"), ("ssh", "next_window"))
_EDGE = (("curl", "emergency"), ("nghttp2", "emergency"), ("ssh", "next_window"))
_DB = (("glibc", "next_window"), ("openssl", "defer"))

# id, label, kind, env, criticality, internet-facing, outcome, findings as (advisory, decision)
# fmt: off
_ASSETS: tuple[tuple[str, str, str, str, str, bool, str, tuple[tuple[str, str], ...]], ...] = (
    ("hv-dev-01", "hv-dev-01", "hypervisor", "dev", "medium", False, "patched", (("kernel", "next_window"), *_STD)),  # noqa: E501
    ("vm-dev-web-01", "dev web 1", "vm", "dev", "low", False, "patched", _WEB + _STD),
    ("vm-dev-db-01", "dev database", "vm", "dev", "low", False, "patched", _DB),
    ("img-debian12-base", "Debian 12 base image", "image", "dev", "high", False, "patched", (("xz", "emergency"), ("glibc", "next_window"), *_STD)),  # noqa: E501
    ("vm-qa-web-01", "qa web 1", "vm", "qa", "low", False, "not in campaign", _WEB),
    ("vm-qa-db-01", "qa database", "vm", "qa", "medium", False, "not in campaign", _DB),
    ("k8s-qa", "qa Kubernetes", "cluster", "qa", "medium", False, "not in campaign", (("kernel", "next_window"), ("less", "defer"))),  # noqa: E501
    ("sa-qa-artifacts", "qa build artifacts", "storage_account", "qa", "low", False, "provider's responsibility", ()),  # noqa: E501
    ("vm-stg-web-01", "staging web 1", "vm", "staging", "medium", False, "patched", _WEB),
    ("vm-stg-db-01", "staging database", "vm", "staging", "high", False, "failed", (*_DB, ("xz", "emergency"))),  # noqa: E501
    ("lb-stg", "staging load balancer", "load_balancer", "staging", "medium", False, "patched", (("openssl", "defer"),)),  # noqa: E501
    ("k8s-stg", "staging Kubernetes", "cluster", "staging", "high", False, "patched", (("kernel", "next_window"), *_STD)),  # noqa: E501
    ("fw-prod-01", "edge firewall", "virtual_appliance", "prod", "critical", True, "patched", (("fortios", "emergency"),)),  # noqa: E501
    ("lb-prod-01", "prod load balancer", "load_balancer", "prod", "critical", True, "patched", (("nghttp2", "emergency"), ("openssl", "defer"))),  # noqa: E501
    ("vm-prod-web-01", "prod web 1", "vm", "prod", "high", True, "patched", _EDGE),
    ("vm-prod-web-02", "prod web 2", "vm", "prod", "high", True, "patched", _EDGE),
    ("vm-prod-web-03", "prod web 3", "vm", "prod", "high", True, "rolled back", (*_EDGE, ("kernel", "next_window"))),  # noqa: E501
    ("san-prod-01", "prod SAN", "storage_system", "prod", "critical", False, "deferred", (("ontap", "defer"),)),  # noqa: E501
    ("app-m365", "Microsoft 365", "application", "prod", "high", True, "provider's responsibility", ()),  # noqa: E501
    ("sa-prod-backups", "prod backups", "storage_account", "prod", "critical", False, "provider's responsibility", ()),  # noqa: E501
)
# fmt: on

# name, env, group, strategy, start offset (hours), hours it took
_WAVES = (
    ("w1-dev", "dev", "all", "in_place", 0.0, 1.5),
    ("w2-staging", "staging", "all", "rolling", 2.0, 2.0),
    ("w3-prod", "prod", "edge-then-web", "rolling", 10.0, 3.0),
)


def _hours(h: float) -> datetime:
    return _START + timedelta(hours=h)


def _finding(key: str, decision: str, patched: bool) -> FindingRow:
    adv, aliases, package, installed, fixed, severity, cvss, kev = _ADVISORIES[key]
    # Patching applies what was decided for now; deferred and ignored findings stay open.
    resolved = patched and decision in ("emergency", "next_window")
    return FindingRow(
        advisory_id=adv,
        aliases=aliases,
        package=package,
        installed=installed,
        fixed=fixed,
        severity=severity,
        cvss=cvss,
        kev=kev,
        decision=decision,
        reason=_REASONS[decision],
        state="resolved" if resolved else "open",
    )


def _steps(asset_id: str, env: str, outcome: str, begin: datetime) -> tuple[StepRow, ...]:
    balancer = {"staging": "lb-stg", "prod": "lb-prod-01"}.get(env, "")
    plan = ["upgrade", "health_check"]
    if asset_id.startswith("vm-"):
        # Hosts behind a load balancer leave it first, so the reboot drops no requests.
        plan = (
            ["drain", "upgrade", "reboot", "health_check", "undrain"]
            if balancer
            else ["upgrade", "reboot", "health_check"]
        )
    status = dict.fromkeys(plan, "succeeded")
    detail = dict.fromkeys(plan, "")
    if outcome == "failed":
        status.update(upgrade="failed", reboot="skipped", health_check="skipped")
        detail["upgrade"] = "dpkg lock held by unattended-upgrades for 600 s; gave up"
    elif outcome == "rolled back":
        status.update(upgrade="rolled_back", health_check="failed")
        detail["upgrade"] = "reverted to the previous packages and kernel"
        detail["health_check"] = "HTTP 502 from /healthz after 3 tries"
    steps = []
    for i, action in enumerate(plan):
        ran = status[action] != "skipped"
        steps.append(
            StepRow(
                step_id=f"{asset_id}/{i + 1}",
                action=action,
                target=balancer if action in ("drain", "undrain") else asset_id,
                status=status[action],
                detail=detail[action],
                started_at=begin + timedelta(minutes=4 * i) if ran else None,
                finished_at=begin + timedelta(minutes=4 * i + 3) if ran else None,
            )
        )
    return tuple(steps)


def _assets() -> tuple[AssetReport, ...]:
    waves = {env: (start, i) for i, (_, env, _, _, start, _) in enumerate(_WAVES)}
    seen: Counter[str] = Counter()
    out = []
    for asset_id, label, kind, env, crit, exposed, outcome, specs in _ASSETS:
        in_campaign = outcome in ("patched", "failed", "rolled back") and env in waves
        begin = _hours(waves[env][0]) + timedelta(minutes=25 * seen[env]) if in_campaign else None
        seen[env] += 1
        findings = tuple(_finding(k, d, outcome == "patched") for k, d in specs)
        owner = "provider" if kind in ("storage_account", "application") else "customer"
        out.append(
            AssetReport(
                asset_id=asset_id,
                label=label,
                kind=kind,
                env=env,
                owner=owner,
                owner_reason=_OWNER_REASONS[kind],
                criticality=crit,
                internet_facing=exposed,
                compliant=not any(f.is_open and f.severity in _BAD for f in findings),
                outcome=outcome,
                findings=findings,
                steps=_steps(asset_id, env, outcome, begin) if begin else (),
            )
        )
    return tuple(out)


def _risk(asset: AssetReport) -> RiskyAsset:
    weight = {"low": 0.5, "medium": 1.0, "high": 1.5, "critical": 2.0}[asset.criticality]
    exposure = 1.5 if asset.internet_facing else 1.0
    open_ = asset.open_findings
    score = sum((f.cvss or 0.0) * (2.0 if f.kev else 1.0) for f in open_) * weight * exposure
    kev = sum(f.kev for f in open_)
    why = [f"{len(open_)} open", f"criticality {asset.criticality}"]
    if kev:
        why.append(f"{kev} known exploited")
    if asset.internet_facing:
        why.append("internet-facing")
    return RiskyAsset(
        asset_id=asset.asset_id, label=asset.label, score=round(score, 1), reason=", ".join(why)
    )


def _campaign(assets: tuple[AssetReport, ...]) -> CampaignReport:
    rows = []
    for name, env, group, strategy, start, took in _WAVES:
        members = [a for a in assets if a.env == env and a.steps]
        rows.append(
            WaveRow(
                name=name,
                env=env,
                group=group,
                strategy=strategy,
                units=len(members),
                succeeded=sum(a.outcome == "patched" for a in members),
                failed=sum(a.outcome == "failed" for a in members),
                rolled_back=sum(a.outcome == "rolled back" for a in members),
                started_at=_hours(start),
                finished_at=_hours(start + took),
            )
        )
    return CampaignReport(
        name="2026-11 monthly",
        plan_hash="9f2c4e1ab37d5c08e6f1a2b3c4d5e6f708192a3b",
        state="completed",
        started_at=_hours(0),
        finished_at=rows[-1].finished_at,
        waves=tuple(rows),
    )


def _burndown(assets: tuple[AssetReport, ...], campaign: CampaignReport) -> list[BurndownPoint]:
    total = sum(len(a.findings) for a in assets)
    points = [BurndownPoint(_hours(0), total, "start")]
    for wave in campaign.waves:
        total -= sum(len(a.findings) - len(a.open_findings) for a in assets if a.env == wave.env)
        points.append(BurndownPoint(wave.finished_at or _hours(0), total, f"after {wave.name}"))
    return points


def sample_report() -> ReportData:
    """A consistent sample report: 20 assets, 4 environments, a 3-wave campaign.

    Returns:
        The report, the same on every call.
    """
    assets = _assets()
    campaign = _campaign(assets)
    every = [f for a in assets for f in a.findings]
    still_open = [f for a in assets for f in a.open_findings]
    before = sum(not any(f.severity in _BAD for f in a.findings) for a in assets)
    risky = sorted((_risk(a) for a in assets if a.open_findings), key=lambda r: -r.score)
    report = ReportData(
        title="Patch campaign report",
        generated_at=_hours(14),
        subtitle="simulated estate, seed 7",
        summary=Summary(
            assets=len(assets),
            assets_by_kind=Counter(a.kind for a in assets),
            findings_open_before=len(every),
            findings_open_after=len(still_open),
            emergency=sum(f.decision == "emergency" for f in every),
            compliant_before=before,
            compliant_after=sum(a.compliant for a in assets),
            provider_owned=sum(a.owner == "provider" for a in assets),
            patched_units=sum(w.succeeded for w in campaign.waves),
            failed_units=sum(w.failed for w in campaign.waves),
            rolled_back_units=sum(w.rolled_back for w in campaign.waves),
        ),
        environments=_ENVS,
        compliance_by_env=tuple(EnvCompliance.of(env, assets) for env in _ENVS),
        findings_by_severity=Counter(f.severity for f in still_open),
        decisions_by_action=Counter(f.decision for f in every),
        burndown=tuple(_burndown(assets, campaign)),
        riskiest_assets=tuple(risky[:8]),
        responsibility=tuple(a.owner_row for a in assets),
        campaign=campaign,
        assets=assets,
    )
    return _with_service_levels(report)


def _with_service_levels(report: ReportData) -> ReportData:
    """SLA, baseline, drift and change sections consistent with the assets' findings."""
    assets = report.assets
    still_open = [(a, f) for a in assets for f in a.open_findings]
    overdue = [
        OverdueRow(
            asset_id=a.asset_id,
            env=a.env,
            advisory_id=f.advisory_id,
            package=f.package,
            severity=f.severity,
            decision=f.decision,
            due="2026-11-20",
            days_overdue=4,
        )
        for a, f in still_open
        if f.kev
    ]
    debian = [a for a in assets if a.kind in ("vm", "hypervisor", "image")]
    return dataclasses.replace(
        report,
        due_buckets={
            "overdue": len(overdue),
            "due in 7 days": 3,
            "due in 30 days": len(still_open) // 2,
            "later": len(still_open) - len(still_open) // 2 - 3 - len(overdue),
            "no date": 0,
        },
        overdue=tuple(overdue),
        mttr=(
            MttrRow(env="dev", severity="high", remediated=4, mean_days=1.5),
            MttrRow(env="prod", severity="critical", remediated=2, mean_days=3.25),
            MttrRow(env="prod", severity="high", remediated=6, mean_days=12.0),
        ),
        baselines=(
            BaselineRow(
                name="debian-default",
                os_family="debian",
                snapshot_id="sha256:5be1c0de5a11ad00",
                approved=9,
                rejected=1,
                assets=len(debian),
                compliant=sum(a.compliant for a in debian),
            ),
        ),
        patch_states={
            "missing": len(still_open),
            "failed": 1,
            "installed_pending_reboot": 1,
            "installed": 40,
            "installed_other": 3,
            "not_applicable": 22,
            "provider_responsibility": 2,
        },
        drift=(
            DriftRow(
                group_kind="role",
                group="web",
                asset_id="web-prod-03",
                package="curl",
                version="7.88.1-10+deb12u3",
                reference="7.88.1-10+deb12u4",
                how="behind",
            ),
        ),
        changes=tuple(
            ChangeRow(
                change="resolved",
                asset_id=a.asset_id,
                advisory_id=f.advisory_id,
                package=f.package,
                severity=f.severity,
            )
            for a in assets
            for f in a.findings
            if not f.is_open
        )[:6],
        still_open=len(still_open),
    )
