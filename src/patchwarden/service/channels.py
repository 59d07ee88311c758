"""``channels check``: new versions on each application's update channel, and what follows.

For every application with a ``channel``, the channel is read (:mod:`patchwarden.drivers.channels`)
and parsed (:mod:`patchwarden.feeds.channels`); versions newer than the application's
``version`` are found in its ecosystem's order (PEP 440 for a Python index, dpkg's for apt,
the ``versions`` of a release feed or an OCI registry). An OCI registry's tags that are not
versions (``latest``) are left out and listed; the newest version's tag is resolved to
the digest of its manifest, which the campaign pins. The newest is acted on by the application's
``update_channel`` policy:

- ``auto``: a campaign file for that version (``applications: [{app, version}]``, a rolling
  group over the hosts it runs on) is written, and goes the normal way: ``plan``, a change
  where the campaign requires one, windows, ``apply``. Environments in ``auto_approve``
  (dev and qa by default) need no change; elsewhere the plan is submitted as a change
  record that a person approves.
- ``notify``: a JSON POST to ``notify.webhook`` and/or an e-mail to ``notify.email``, with
  the version and its release notes link.
- ``manual`` (or ``repository``): recorded only.

Every outcome is an entry of the audit trail (``channel.new_version``); a version already
recorded for an application is not acted on again, so a scheduled check notifies once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import yaml

from patchwarden.domain.assets import Application
from patchwarden.domain.channels import Channel, OciChannel, PypiChannel, Release
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.channels import PEP691, ChannelPage, ChannelReader
from patchwarden.drivers.notify import Mailer, SmtpConfig, post_webhook
from patchwarden.errors import DriverError
from patchwarden.feeds.channels import (
    newer_releases,
    parse_packages_index,
    parse_release_feed,
    parse_simple_html,
    parse_simple_json,
    tag_releases,
)
from patchwarden.service.apply import plan_from_files
from patchwarden.service.audit import Actor, record
from patchwarden.service.change import draft_change, submit_change
from patchwarden.service.sources import read_inventory
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter

__all__ = [
    "AUTO_APPROVE",
    "ChannelCheck",
    "ChannelOutcome",
    "ChannelReader",
    "Mailer",
    "SmtpConfig",
    "act_on",
    "campaign_for",
    "check_channels",
    "outcomes_json",
    "read_releases",
    "run_channel_check",
    "submit_campaign_file",
]

AUTO_APPROVE: tuple[str, ...] = ("dev", "qa")
"""Environments where an ``auto`` campaign needs no change record, unless told otherwise."""

_ACTION = "channel.new_version"


@dataclass(frozen=True)
class ChannelCheck:
    """What one application's channel offers.

    Attributes:
        app: The application's id.
        env: Its environment.
        policy: Its ``update_channel``.
        channel: The channel's type (``pypi``, ``apt``, ``release_feed``, ``oci``).
        current: The version it runs.
        newer: Releases newer than ``current``, newest first; on an OCI registry the
            newest carries its manifest's digest.
        invalid: Versions on the channel its ecosystem's order rejects (left out); on an
            OCI registry, the tags that are not versions (``latest``).
        error: Why the channel could not be read; empty when it was.
        ecosystem: The version order the channel's versions were read in.
    """

    app: str
    env: str
    policy: str
    channel: str
    current: str
    newer: tuple[Release, ...] = ()
    invalid: tuple[str, ...] = ()
    error: str = ""
    ecosystem: str = "semver"

    @property
    def latest(self) -> Release | None:
        """The newest release above ``current``, or ``None``."""
        return self.newer[0] if self.newer else None


@dataclass(frozen=True)
class ChannelOutcome:
    """What was done about one application.

    ``action`` is ``up_to_date``, ``error``, ``already_recorded``, ``campaign``,
    ``change_submitted``, ``notified``, ``notify_failed`` or ``recorded``.
    """

    check: ChannelCheck
    action: str
    detail: str = ""
    files: tuple[str, ...] = field(default_factory=tuple)

    def notes(self) -> list[str]:
        """What a table row cannot hold: the digest pinned, the versions left out.

        Example:
            >>> check = ChannelCheck("gw", "prod", "manual", "oci", "1.0.0",
            ...                      (Release(version="1.1.0", digest="sha256:ab"),),
            ...                      ("latest", "nightly"))
            >>> ChannelOutcome(check, "recorded").notes()  # doctest: +NORMALIZE_WHITESPACE
            ['1.1.0 is pinned by digest sha256:ab',
             'left out 2 tags that are not semver versions: latest, nightly']
        """
        out: list[str] = []
        latest = self.check.latest
        if latest is not None and latest.digest:
            out.append(f"{latest.version} is pinned by digest {latest.digest}")
        if self.check.invalid:
            what = "tags" if self.check.channel == "oci" else "versions"
            out.append(
                f"left out {len(self.check.invalid)} {what} that are not "
                f"{self.check.ecosystem} versions: {', '.join(self.check.invalid)}"
            )
        return out

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready row."""
        latest = self.check.latest
        return {
            "app": self.check.app,
            "env": self.check.env,
            "policy": self.check.policy,
            "channel": self.check.channel,
            "current": self.check.current,
            "latest": latest.version if latest else None,
            "digest": latest.digest if latest else None,
            "newer": [r.version for r in self.check.newer],
            "invalid": list(self.check.invalid),
            "action": self.action,
            "detail": self.detail,
            "error": self.check.error,
        }


def read_releases(reader: ChannelReader, channel: Channel, name: str) -> tuple[Release, ...]:
    """Every release the channel offers for ``name``, read by the parser its answer needs.

    Raises:
        DriverError: The channel could not be read.
        ValueError: What it answered cannot be parsed.
    """
    if isinstance(channel, OciChannel):
        tags = reader.oci_tags(channel, name)
        releases, _ = tag_releases(
            tags, channel.tag_prefix, lambda tag: channel.reference(name, tag)
        )
        return releases
    page: ChannelPage = reader.read(channel, name)
    if isinstance(channel, PypiChannel):
        if page.content_type == PEP691 or page.content_type.endswith("+json"):
            releases = parse_simple_json(page.text, name)
        else:
            releases = parse_simple_html(page.text, name)
    elif channel.type == "apt":
        releases = parse_packages_index(page.text, channel.repository, name)
    else:
        releases = parse_release_feed(page.text)
    # Links are relative to the page they were read from (PEP 503, 691; a feed's too).
    return tuple(r.model_copy(update={"url": urljoin(page.url, r.url)}) for r in releases)


def check_channels(inventory: Inventory, reader: ChannelReader) -> list[ChannelCheck]:
    """Read the channel of every application that has one, in inventory order.

    A channel that cannot be read gives a check with ``error`` set; the others go on.
    """
    checks: list[ChannelCheck] = []
    for app in inventory.assets:
        if not isinstance(app, Application) or app.channel is None:
            continue
        channel = app.channel
        base = ChannelCheck(
            app.id, app.env, app.update_channel, channel.type, app.version,
            ecosystem=channel.ecosystem,
        )  # fmt: skip
        name = channel.package_name(app.id)
        try:
            if isinstance(channel, OciChannel):
                newer, invalid = _oci_newer(reader, channel, name, app.version)
            else:
                releases = read_releases(reader, channel, name)
                newer, invalid = newer_releases(releases, app.version, channel.ecosystem)
        except (DriverError, ValueError) as error:
            checks.append(_with(base, error=str(error)))
            continue
        checks.append(_with(base, newer=newer, invalid=invalid))
    return checks


def _oci_newer(
    reader: ChannelReader, channel: OciChannel, repository: str, current: str
) -> tuple[tuple[Release, ...], tuple[str, ...]]:
    """Newer versions among a repository's tags, the newest pinned by its digest.

    Also returns the tags that are not versions (with ``tag_prefix`` put back).
    """
    tags = reader.oci_tags(channel, repository)
    prefix = channel.tag_prefix
    releases, unprefixed = tag_releases(tags, prefix, lambda t: channel.reference(repository, t))
    newer, invalid = newer_releases(releases, current, channel.ecosystem)
    ignored = (*unprefixed, *(prefix + version for version in invalid))
    if not newer:
        return newer, ignored
    digest = reader.oci_digest(channel, repository, prefix + newer[0].version)
    pinned = newer[0].model_copy(
        update={"digest": digest, "url": channel.reference(repository, digest)}
    )
    return (pinned, *newer[1:]), ignored


def _with(check: ChannelCheck, **changes: Any) -> ChannelCheck:
    return replace(check, **changes)


def campaign_for(
    app: Application, version: str, auto_approve: Sequence[str], digest: str = ""
) -> dict[str, Any]:
    """The campaign that installs ``version`` of ``app``: one rolling group over its hosts.

    Its change is required in the application's environment unless that environment is
    in ``auto_approve``. A ``digest`` (an OCI image's) is pinned beside the version.

    Example:
        >>> app = Application(id="shop", kind="application", env="prod", version="1.0",
        ...                   runs_on=("h1", "h2"))
        >>> c = campaign_for(app, "1.1", ["dev", "qa"])
        >>> c["name"], c["groups"]["shop"]["select"], c["change"]
        ('shop 1.1', {'ids': ['h1', 'h2']}, {'required_for': ['prod']})
    """
    required = [] if app.env in auto_approve else [app.env]
    return {
        "name": f"{app.id} {version}",
        "scope_env": [app.env],
        "groups": {
            app.id: {
                "select": {"ids": list(app.runs_on)},
                "strategy": "rolling",
                "max_unavailable": 1,
            }
        },
        "applications": [
            {"app": app.id, "version": version, **({"digest": digest} if digest else {})}
        ],
        "change": {"required_for": required},
    }


Submit = Callable[[Path], str]
"""Submits a campaign file as a change; returns the change's label (``CHG-3``)."""


def act_on(
    checks: Sequence[ChannelCheck],
    inventory: Inventory,
    store: Store,
    actor: Actor,
    now: datetime,
    *,
    campaigns_dir: Path,
    mailer: Mailer | None = None,
    auto_approve: Sequence[str] = AUTO_APPROVE,
    submit: Submit | None = None,
    webhook: Callable[[str, dict[str, Any]], int] = post_webhook,
) -> list[ChannelOutcome]:
    """Carry out each application's policy for the newest version its channel offers.

    ``submit`` is called for an ``auto`` campaign whose environment needs a change (the
    caller plans and submits it the way ``change submit`` does). Every outcome but
    ``up_to_date`` and ``error`` is recorded in the audit trail; a version recorded
    before is not acted on again.
    """
    outcomes: list[ChannelOutcome] = []
    for check in checks:
        latest = check.latest
        if check.error:
            outcomes.append(ChannelOutcome(check, "error", check.error))
            continue
        if latest is None:
            outcomes.append(ChannelOutcome(check, "up_to_date"))
            continue
        if _recorded(store, check.app, latest.version):
            outcomes.append(ChannelOutcome(check, "already_recorded", latest.version))
            continue
        app = inventory.get(check.app)
        assert isinstance(app, Application)
        outcome = _carry_out(
            check, app, latest, campaigns_dir, mailer, auto_approve, submit, webhook
        )
        record(
            store, actor, _ACTION, "application", check.app,
            details={
                "version": latest.version,
                "current": check.current,
                "policy": check.policy,
                "action": outcome.action,
                "detail": outcome.detail,
                "url": latest.url,
                "sha256": latest.sha256,
                "notes": latest.notes,
                "digest": latest.digest,
            },
            at=now,
        )  # fmt: skip
        outcomes.append(outcome)
    return outcomes


def _recorded(store: Store, app: str, version: str) -> bool:
    entries = store.audit.entries(AuditFilter(action=_ACTION, object_id=app))
    return any(
        e.details.get("version") == version and e.details.get("action") != "notify_failed"
        for e in entries
    )


def _carry_out(
    check: ChannelCheck,
    app: Application,
    latest: Release,
    campaigns_dir: Path,
    mailer: Mailer | None,
    auto_approve: Sequence[str],
    submit: Submit | None,
    webhook: Callable[[str, dict[str, Any]], int],
) -> ChannelOutcome:
    if check.policy == "auto":
        campaign = campaign_for(app, latest.version, auto_approve, latest.digest)
        campaigns_dir.mkdir(parents=True, exist_ok=True)
        path = campaigns_dir / f"{app.id}-{latest.version}.yaml"
        path.write_text(yaml.safe_dump(campaign, sort_keys=False), encoding="utf-8")
        if campaign["change"]["required_for"]:
            if submit is None:
                return ChannelOutcome(
                    check, "campaign", f"{path} (needs a change: patchwarden change submit)",
                    (str(path),),
                )  # fmt: skip
            label = submit(path)
            return ChannelOutcome(check, "change_submitted", f"{label} for {path}", (str(path),))
        return ChannelOutcome(check, "campaign", f"{path} (no change needed)", (str(path),))
    if check.policy == "notify":
        return _notify(check, app, latest, mailer, webhook)
    return ChannelOutcome(check, "recorded", latest.version)


def _message(check: ChannelCheck, latest: Release) -> tuple[str, str, dict[str, Any]]:
    subject = f"[patchwarden] {check.app} {latest.version} is available (runs {check.current})"
    lines = [
        f"A newer version of {check.app} ({check.env}) is on its {check.channel} channel.",
        "",
        f"  running:   {check.current}",
        f"  available: {latest.version}",
    ]
    if len(check.newer) > 1:
        lines.append(f"  also newer: {', '.join(r.version for r in check.newer[1:])}")
    if latest.notes:
        lines.append(f"  release notes: {latest.notes}")
    if latest.url:
        lines.append(f"  download: {latest.url}")
    if latest.sha256:
        lines.append(f"  sha256: {latest.sha256}")
    if latest.digest:
        lines.append(f"  digest: {latest.digest}")
    payload = {
        "event": _ACTION,
        "app": check.app,
        "env": check.env,
        "current": check.current,
        "version": latest.version,
        "newer": [r.version for r in check.newer],
        "notes": latest.notes,
        "url": latest.url,
        "sha256": latest.sha256,
        "digest": latest.digest,
    }
    return subject, "\n".join(lines) + "\n", payload


def _notify(
    check: ChannelCheck,
    app: Application,
    latest: Release,
    mailer: Mailer | None,
    webhook: Callable[[str, dict[str, Any]], int],
) -> ChannelOutcome:
    subject, body, payload = _message(check, latest)
    done: list[str] = []
    failed: list[str] = []
    if app.notify.webhook:
        try:
            status = webhook(app.notify.webhook, payload)
            done.append(f"webhook {status}")
        except DriverError as error:
            failed.append(str(error))
    if app.notify.email:
        if mailer is None:
            failed.append("e-mail: no SMTP server given (--smtp HOST:PORT)")
        else:
            try:
                message_id = mailer.send(app.notify.email, subject, body)
                done.append(f"mail {message_id} to {', '.join(app.notify.email)}")
            except DriverError as error:
                failed.append(str(error))
    if failed:
        return ChannelOutcome(check, "notify_failed", "; ".join(done + failed))
    return ChannelOutcome(check, "notified", "; ".join(done))


def outcomes_json(outcomes: Sequence[ChannelOutcome]) -> str:
    """The outcomes as a JSON document (``--format json``)."""
    return json.dumps([o.as_json() for o in outcomes], indent=2)


def submit_campaign_file(
    store: Store, path: Path, inventory_files: Sequence[Path], requester: str, now: datetime
) -> str:
    """Plan a campaign file as ``change submit`` does and submit its change; its label."""
    built, _ = plan_from_files(store, path, inventory_files, (), now)
    a = built.assessment
    draft = draft_change(
        built.plan, built.campaign, built.inventory, a.findings, a.decisions, requester, now,
        title=f"Update {built.campaign.name} (from its update channel)",
    )  # fmt: skip
    return submit_change(store, built.plan, draft, now, source="channels check").label


def run_channel_check(
    store: Store,
    inventory_files: Sequence[Path],
    actor: Actor,
    now: datetime,
    *,
    campaigns_dir: Path,
    smtp: SmtpConfig | None = None,
    auto_approve: Sequence[str] = AUTO_APPROVE,
    reader: ChannelReader | None = None,
) -> list[ChannelOutcome]:
    """What ``patchwarden channels check`` does: read the inventory, check, act, record.

    Raises:
        ValidationFailed: an inventory file has problems (nothing is read or sent).
    """
    loaded = read_inventory(inventory_files)
    inventory = loaded.inventory
    own = reader is None
    reader = reader or ChannelReader()
    try:
        checks = check_channels(inventory, reader)
    finally:
        if own:
            reader.close()

    def submit(path: Path) -> str:
        return submit_campaign_file(store, path, inventory_files, actor.name, now)

    return act_on(
        checks, inventory, store, actor, now,
        campaigns_dir=campaigns_dir,
        mailer=Mailer(smtp) if smtp is not None else None,
        auto_approve=auto_approve,
        submit=submit,
    )  # fmt: skip
