"""The lab as users see it: `patchwarden lab status` and the inventory `lab up` writes."""

from __future__ import annotations

import json

import pytest

from patchwarden.cli.main import main
from patchwarden.testing.lab import Lab


def test_inventory_written_by_the_lab_validates(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inventory", "validate", str(lab.inventory_path)]) == 0
    assert "4 vm" in capsys.readouterr().out


def test_lab_status_reports_every_host_up(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    lab.wait_up()
    assert main(["lab", "status", "--dir", str(lab.dir), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["controller_pid"] == lab.controller_pid()
    assert {h: s["state"] for h, s in status["hosts"].items()} == {s.id: "up" for s in lab.specs()}


def test_lab_status_of_a_missing_lab_is_a_usage_error(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lab", "status", "--dir", "/srv/no-such-patchwarden-lab"]) == 2
    assert "no lab" in capsys.readouterr().err
