"""Findings' notices from a real ``patchwarden serve``: new emergencies, SLA overdue, failing jobs.

Received by a real HTTP server (each body's HMAC-SHA256 signature checked) and a real
``aiosmtpd`` server over STARTTLS, as in ``test_scheduler_notify.py``. The estate is the
demo's, first assessed 60 days ago without one prod asset (so its findings are new later
and the others are past their SLA due dates now), then assessed again while the server
runs. The e-mail channel takes prod's critical findings only. Nothing is told twice: the overdue findings once (on this day), the new emergencies
once (a third assessment brings none), the failing job once at its second failure.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_string
from pathlib import Path
from typing import Any

import pytest
from serve_harness import free_port, patchwarden, seed_users, start_server, stop_server
from test_scheduler_notify import SECRET, Hooks, Mailbox, mailbox, wait_for

from patchwarden.assess.assessment import Assessment, assess
from patchwarden.domain.advisories import Action
from patchwarden.service.assessing import assess_estate
from patchwarden.service.policy import default_policy
from patchwarden.store import open_store

pytestmark = pytest.mark.slow  # a real server, three assessments, a job failing twice

__all__ = ["mailbox"]  # the fixture, imported to be used here


def _urgent_prod_asset(now: datetime) -> str:
    """A prod asset of the demo with a critical finding decided emergency."""
    with open_store("sqlite://") as store:
        done = assess_estate(store, [], demo=True, policy=default_policy(), now=now, record=False)
    env_of = {a.id: a.env for a in done.inventory.assets}
    decided = done.assessment.decision_of()
    return sorted(
        f.asset_id
        for f in done.assessment.findings
        if env_of[f.asset_id] == "prod" and f.severity.value == "critical"
        and decided[(f.asset_id, f.advisory_id, f.package)].action is Action.EMERGENCY
    )[0]  # fmt: skip


def test_new_emergencies_overdue_findings_and_failing_jobs_are_told_once(
    tmp_path: Path, mailbox: tuple[Mailbox, int, Path]
) -> None:
    box, smtp_port, ca_file = mailbox
    hooks = Hooks()
    db = f"sqlite:///{tmp_path / 'patchwarden.db'}"
    seed_users(db)
    then = datetime.now(UTC) - timedelta(days=60)
    held_back = _urgent_prod_asset(then)

    def without(*args: Any, **kwargs: Any) -> Assessment:
        full = assess(*args, **kwargs)
        keep = [i for i, f in enumerate(full.findings) if f.asset_id != held_back]
        return replace(
            full,
            findings=tuple(full.findings[i] for i in keep),
            decisions=tuple(full.decisions[i] for i in keep),
        )

    with open_store(db) as store:
        assess_estate(store, [], demo=True, policy=default_policy(), now=then, assessor=without)
    (tmp_path / "jobs.yaml").write_text(
        f"""retry_base: 1s
jobs:
  broken:
    kind: feed_sync
    every: 1h
    sources: {{osv: 'http://127.0.0.1:{free_port()}/nothing-listens-here.zip'}}
    state_file: '{tmp_path / "feeds-state.json"}'
"""
    )
    (tmp_path / "notify.yaml").write_text(
        f"""job_failures: 2
channels:
  hook: {{type: webhook, url: '{hooks.url}', secret_env: PW_TEST_HOOK_SECRET, retries: 1}}
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    starttls: true
    ca_file: '{ca_file}'
    sender: patchwarden@example.org
    to: [ops@example.org]
    events: [finding.emergency, sla.overdue]
    environments: [prod]
    severities: [critical]
"""
    )
    options = ("--schedule", str(tmp_path / "jobs.yaml"), "--notify", str(tmp_path / "notify.yaml"))
    process, _ = start_server(
        db, tmp_path / "server.log", *options, "--tick", "0.3",
        env_extra={"PW_TEST_HOOK_SECRET": SECRET},
    )  # fmt: skip

    def told(event: str) -> list[dict[str, Any]]:
        return [e for e in hooks.events() if e["event"] == event]  # signatures checked

    def mailed() -> list[dict[str, Any]]:
        out = []
        for tls, text in box.messages:
            assert tls, "over STARTTLS"
            payload = message_from_string(text).get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append(json.loads(payload))
        return out

    try:
        (late,) = wait_for("the overdue findings", lambda: told("sla.overdue"))
        assert late["findings"] and all(f["days_overdue"] >= 1 for f in late["findings"])
        assert held_back not in {f["asset"] for f in late["findings"]}
        kinds = {(f["env"], f["severity"]) for f in late["findings"]}
        # The webhook takes every environment and severity; the e-mail channel (prod,
        # critical) none of these: prod's overdue ones are high, the critical ones elsewhere.
        assert ("prod", "high") in kinds and ("dev", "critical") in kinds
        assert ("prod", "critical") not in kinds

        patchwarden("assess", "--demo", "--format", "json", db=db)
        (urgent,) = wait_for("the new emergencies", lambda: told("finding.emergency"))
        assert {f["asset"] for f in urgent["findings"]} == {held_back}
        (mail,) = wait_for("the emergency e-mail", lambda: mailed())
        assert mail["event"] == "finding.emergency"
        assert {(f["env"], f["severity"]) for f in mail["findings"]} == {("prod", "critical")}

        (failing,) = wait_for("the failing job", lambda: told("job.failing"))
        assert failing["object"]["id"] == "broken" and failing["details"]["failures"] == 2

        patchwarden("assess", "--demo", "--format", "json", db=db)  # nothing new
        with open_store(db) as store:
            last = store.audit.last()
        assert last is not None
        wait_for("the notifier to read the trail", lambda: _cursor(db) >= last.seq)
        time.sleep(1.5)  # several ticks more: the SLA check looks again, finds nothing new
    finally:
        stop_server(process)
    events = [e["event"] for e in hooks.events()]
    assert events.count("sla.overdue") == 1 and events.count("finding.emergency") == 1
    assert events.count("job.failing") == 1
    deliveries = [h["x-patchwarden-delivery"] for h, _ in hooks.received]
    assert len(deliveries) == len(set(deliveries)), "no audit entry told twice"
    assert len(box.messages) == 1, "the overdue notice had nothing for the e-mail channel"


def _cursor(db: str) -> int:
    with open_store(db) as store:
        return store.cursor("notify") or 0
