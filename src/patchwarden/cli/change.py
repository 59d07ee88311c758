"""``patchwarden change submit|approve|reject|show``: the change record of a campaign's plan."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from patchwarden.cli.options import SERVER_OPTION, echo_warnings, login_name, parse_at
from patchwarden.cli.rows import check_format
from patchwarden.domain.change import ChangeRecord
from patchwarden.domain.identity import Role
from patchwarden.errors import UsageError
from patchwarden.service.apply import plan_from_files
from patchwarden.service.change import (
    approve_change,
    draft_change,
    needs_change,
    reject_change,
    submit_change,
)
from patchwarden.service.identity import local_approver
from patchwarden.service.remote import RemoteServer, connect
from patchwarden.store import Store, open_store, resolve_url

__all__ = ["app", "render_change", "who"]

app = typer.Typer(
    help="Change records: submit a plan for approval, approve or reject it (four eyes), show it.",
    no_args_is_help=True,
)

_AS = typer.Option(
    None,
    "--as",
    help="Who you are (default: $USER). Once the database has users, approvals are by the "
    "login running the command; with --server, by the token's user.",
)
_DB = typer.Option(None, "--db", help="Database URL (default: PATCHWARDEN_DB, then user data dir).")


_SOURCE = "cli"
"""Where command-line actions come from, for the audit trail: names here are typed, not proven."""


def who(name: str | None) -> str:
    """The acting person: ``--as``, else ``$USER`` (or ``$LOGNAME``).

    Raises:
        UsageError: neither is set.
    """
    person = name or os.environ.get("USER") or os.environ.get("LOGNAME")
    if not person:
        raise UsageError("who are you? pass --as NAME (or set $USER)")
    return person


def _remote(server: str | None, as_: str | None) -> RemoteServer | None:
    """The server to call, if any; ``--as`` means nothing there (the token says who)."""
    remote = connect(server, os.environ)
    if remote is not None and as_ is not None:
        remote.close()
        raise UsageError("--as with --server: the server acts as the token's user")
    return remote


def _env_user() -> str | None:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or None


def _store(db: str | None) -> Store:
    return open_store(resolve_url(db, os.environ))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@app.command("submit")
def submit(
    campaign: Path = typer.Argument(..., help="The campaign YAML file."),
    inventory: list[Path] = typer.Option([], "--inventory", "-i", help="Inventory file(s)."),
    advisories: list[Path] = typer.Option([], "--advisories", help="OSV JSON file(s)."),
    at: str | None = typer.Option(None, "--at", help="Plan as of this time (ISO 8601)."),
    emergency: bool = typer.Option(
        False, "--emergency", help="An emergency change: may start outside maintenance windows."
    ),
    title: str = typer.Option("", "--title", help="A one-line title for the change board."),
    as_: str | None = _AS,
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Plan the campaign and submit its change record for approval.

    The record pins the plan's hash: if the plan changes later (new findings, another
    inventory), it needs a new approval.

    Example: patchwarden change submit campaign.yaml --as alice
    Example: patchwarden change submit campaign.yaml --server https://patch.example.org
    """
    remote = _remote(server, as_)
    if remote is not None:
        with remote:
            _submit_remote(remote, campaign, inventory, advisories, at, emergency, title)
        return
    requester = who(as_)
    with _store(db) as store:
        built, warnings = plan_from_files(store, campaign, inventory, advisories, parse_at(at))
        echo_warnings(warnings)
        a = built.assessment
        draft = draft_change(
            built.plan, built.campaign, built.inventory, a.findings, a.decisions, requester,
            _now(), emergency=emergency or None, title=title,
        )  # fmt: skip
        record = submit_change(store, built.plan, draft, _now(), source=_SOURCE)
    if not needs_change(built.plan, built.campaign):
        envs = ", ".join(built.campaign.change.required_for)
        typer.echo(f"note: the plan touches none of {envs}; a change is not required")
    typer.echo(
        f"{record.label} {record.state.value}: plan {record.plan_hash[:12]} of "
        f"{record.campaign!r}, risk {record.risk.level}, {len(record.affected_assets)} assets; "
        f"needs {record.approvals_required} approval(s) by someone other than {requester}"
    )


def _submit_remote(
    remote: RemoteServer,
    campaign: Path,
    inventory: list[Path],
    advisories: list[Path],
    at: str | None,
    emergency: bool,
    title: str,
) -> None:
    if inventory or advisories or at:
        raise UsageError(
            "--inventory, --advisories and --at with --server: the server plans against its "
            "own inventory, advisories and clock"
        )
    try:
        text = campaign.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{campaign}: cannot read: {error}") from error
    body: dict[str, object] = {"campaign": text, "file_name": str(campaign), "title": title}
    if emergency:
        body["emergency"] = True
    record = ChangeRecord.model_validate(remote.call("POST", "/changes", body=body))
    typer.echo(
        f"{record.label} {record.state.value}: plan {record.plan_hash[:12]} of "
        f"{record.campaign!r}, risk {record.risk.level}, {len(record.affected_assets)} assets; "
        f"needs {record.approvals_required} approval(s) by someone other than {record.requester}"
    )


def _change_id(text: str) -> int:
    digits = text.upper().removeprefix("CHG-")
    if not digits.isdigit():
        raise UsageError(f"{text!r} is not a change id; write 12 or CHG-12")
    return int(digits)


@app.command("approve")
def approve(
    change: str = typer.Argument(..., help="The change id, e.g. 12 or CHG-12."),
    comment: str = typer.Option("", "--comment", help="Why, for the audit trail."),
    plan_hash: str | None = typer.Option(
        None, "--plan-hash", help="The plan hash you reviewed (default: the change's)."
    ),
    as_: str | None = _AS,
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Approve a submitted change (not your own: four eyes).

    Example: patchwarden change approve CHG-12 --comment "rollback tested in staging"
    Example: PATCHWARDEN_TOKEN=pwt_... patchwarden change approve 12 --server https://patch.example.org
    """
    cid = _change_id(change)
    remote = _remote(server, as_)
    if remote is not None:
        with remote:
            pinned = plan_hash or remote.call("GET", f"/changes/{cid}")["plan_hash"]
            answer = remote.call(
                "POST", f"/changes/{cid}/approve", body={"plan_hash": pinned, "comment": comment}
            )
        record = ChangeRecord.model_validate(answer)
    else:
        with _store(db) as store:
            by = local_approver(store, login_name(), as_, Role.APPROVER, fallback=_env_user())
            record = approve_change(
                store, cid, by, _now(), comment, source=_SOURCE, plan_hash=plan_hash
            )
    more = record.approvals_required - len(record.approvers)
    tail = f"; {more} more approval(s) needed" if more > 0 else ""
    typer.echo(
        f"{record.label} {record.state.value} by {record.approvers[-1]} "
        f"(plan {record.plan_hash[:12]}){tail}"
    )


@app.command("reject")
def reject(
    change: str = typer.Argument(..., help="The change id, e.g. 12 or CHG-12."),
    reason: str = typer.Option(..., "--reason", help="Why; the requester reads it."),
    as_: str | None = _AS,
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Reject a submitted change (not your own); it closes, a new submission starts over.

    Example: patchwarden change reject 12 --reason "no rollback test"
    """
    cid = _change_id(change)
    remote = _remote(server, as_)
    if remote is not None:
        with remote:
            answer = remote.call("POST", f"/changes/{cid}/reject", body={"reason": reason})
        record = ChangeRecord.model_validate(answer)
    else:
        with _store(db) as store:
            by = local_approver(store, login_name(), as_, Role.APPROVER, fallback=_env_user())
            record = reject_change(store, cid, by, _now(), reason, source=_SOURCE)
    typer.echo(f"{record.label} rejected by {record.history[-1].by}: {reason}")


@app.command("show")
def show(
    change: str | None = typer.Argument(None, help="The change id; all changes if omitted."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    db: str | None = _DB,
    server: str | None = SERVER_OPTION,
) -> None:
    """Show one change record in full, or list them all.

    Example: patchwarden change show CHG-12 --format json
    """
    check_format(fmt)
    remote = _remote(server, None)
    if remote is not None:
        with remote:
            if change is None:
                ids = [c["id"] for c in remote.call("GET", "/changes")]
            else:
                ids = [_change_id(change)]
            records = [
                ChangeRecord.model_validate(remote.call("GET", f"/changes/{i}")) for i in ids
            ]
        _print_changes(records, change is not None, fmt)
        return
    with _store(db) as store:
        if change is None:
            records = store.changes()
        else:
            one = store.get_change(_change_id(change))
            if one is None:
                raise UsageError(f"no change {change}; `patchwarden change show` lists them")
            records = [one]
    _print_changes(records, change is not None, fmt)


def _print_changes(records: list[ChangeRecord], one: bool, fmt: str) -> None:
    if fmt == "json":
        data = [r.model_dump(mode="json") for r in records]
        typer.echo(json.dumps(data[0] if one else data, indent=2))
    elif one:
        typer.echo(render_change(records[0]), nl=False)
    else:
        for r in records:
            typer.echo(
                f"{r.label:<8} {r.state.value:<11} {r.risk.level:<8} plan {r.plan_hash[:12]}  "
                f"{r.campaign}  (by {r.requester}, {r.created_at:%Y-%m-%d %H:%M})"
            )
        typer.echo(f"{len(records)} change(s)")


def render_change(r: ChangeRecord) -> str:
    """A change record as a person reads it."""
    kind = "emergency change" if r.emergency else "change"
    lines = [
        f"{r.label}: {r.title}  [{kind}, {r.state.value}]",
        f"  campaign {r.campaign!r}, plan {r.plan_hash}",
        f"  requested by {r.requester} at {r.created_at:%Y-%m-%d %H:%M %Z}; "
        f"approvals {len(r.approvers)}/{r.approvals_required}"
        + (f" ({', '.join(r.approvers)})" if r.approvers else ""),
        f"Risk: {r.risk.level}; {r.risk.findings} finding(s) "
        + ", ".join(f"{n} {s}" for s, n in r.risk.by_severity.items()),
    ]
    lines += [f"  - {reason}" for reason in r.risk.reasons]
    lines.append("Schedule:")
    for e in r.schedule:
        start = f"{e.start:%Y-%m-%d %H:%M}" if e.start else "-"
        end = f"{e.end:%Y-%m-%d %H:%M}" if e.end else "-"
        lines.append(f"  {e.wave:<24} {start} -> {end} UTC  {', '.join(e.windows) or '-'}")
    lines.append(f"Affected assets ({len(r.affected_assets)}): {', '.join(r.affected_assets)}")
    lines.append(f"Affected services: {', '.join(r.affected_services) or '-'}")
    lines.append("Rollback plan:")
    lines += [f"  {e.group} ({e.strategy}): {e.how}" for e in r.rollback_plan]
    lines.append("History:")
    for h in r.history:
        note = f"  {h.note}" if h.note else ""
        lines.append(
            f"  {h.at:%Y-%m-%d %H:%M} {h.by}: {h.from_state.value} -> {h.to_state.value}{note}"
        )
    return "\n".join(lines) + "\n"
