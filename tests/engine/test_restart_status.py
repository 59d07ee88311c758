"""What status and the report say of services restarted (or still due) after a patch step.

The patch step journals what the host's tool reported (``restarted``, ``services_to_restart``,
or ``unknown`` when the host has no tool); these read it back. The campaign setting itself
is checked as every campaign field is: a bad value names file, line and field, exit 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.engine.machine import Record
from patchwarden.service.assessments import patch_detail
from patchwarden.service.runs import ServiceRestarts, service_restarts

DEMO_INVENTORY = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-inventory.yaml"


def test_each_patch_step_shows_what_it_restarted_and_what_still_needs_it() -> None:
    records = [
        Record("w/a/patch", "started", {}),
        Record("w/a/patch", "succeeded", {"restarted": ["pw-daemon.service"],
                                          "services_to_restart": []}),
        Record("w/b/patch", "succeeded", {"changed": ["libpwlib1"],
                                          "services_to_restart": ["pw-daemon.service"]}),
        Record("w/c/patch", "succeeded", {"services_to_restart": "unknown"}),
        Record("w/d/patch", "succeeded", {"changed": ["pw-web"]}),  # no ServiceRestarter
        Record("w/e/patch", "failed", {"error": "apt-get install failed"}),
    ]  # fmt: skip
    targets = {f"w/{h}/patch": h for h in "abcde"}
    found = service_restarts(records, targets)
    assert found == (
        ServiceRestarts("w/a/patch", "a", ("pw-daemon.service",), ()),
        ServiceRestarts("w/b/patch", "b", (), ("pw-daemon.service",)),
        ServiceRestarts("w/c/patch", "c", (), None),
    )
    assert [r.as_json()["still_needed"] for r in found] == [[], ["pw-daemon.service"], "unknown"]


def test_a_resumed_step_reports_its_last_outcome() -> None:
    records = [
        Record("w/a/patch", "succeeded", {"services_to_restart": ["x.service"]}),
        Record("w/a/patch", "succeeded", {"restarted": ["x.service"], "services_to_restart": []}),
    ]
    (only,) = service_restarts(records, {"w/a/patch": "a"})
    assert (only.restarted, only.pending) == (("x.service",), ())


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"changed": ["libpwlib1"], "restarted": ["pw-daemon.service"]},
         "changed: libpwlib1; restarted: pw-daemon.service"),
        ({"changed": ["libpwlib1"], "services_to_restart": ["pw-daemon.service", "cron.service"]},
         "changed: libpwlib1; still needs a restart: pw-daemon.service, cron.service"),
        ({"changed": [], "services_to_restart": []}, ""),
        ({"services_to_restart": "unknown"}, "services to restart: unknown"),
    ],
)  # fmt: skip
def test_the_report_step_detail_names_the_services(payload: dict[str, object], detail: str) -> None:
    assert patch_detail(payload) == detail


def test_a_bad_restart_setting_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHWARDEN_DB", f"sqlite:///{tmp_path / 'pw.db'}")
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(
        "name: restarts\n"
        "restart_services: restart\n"
        "groups:\n"
        "  web: {select: {role: web}, strategy: rolling, restart_services: sometimes}\n"
    )
    code = main(["plan", str(campaign), "-i", str(DEMO_INVENTORY)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{campaign}:4: groups.web.restart_services: Input should be 'report' or 'restart'" in (
        " ".join(err.split())
    )
    assert "nothing was changed" in err
