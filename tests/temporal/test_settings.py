"""Where Temporal is and how long a worker may stay silent: read from the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchwarden.errors import UsageError
from patchwarden.service.temporal import HEARTBEAT_VAR, TemporalSettings

DATA = Path(__file__).parents[1] / "data/temporal"


def test_the_heartbeat_defaults_to_twenty_seconds_and_takes_the_variable() -> None:
    assert TemporalSettings.from_env({}).heartbeat_s == 20.0
    assert TemporalSettings.from_env({HEARTBEAT_VAR: " "}).heartbeat_s == 20.0
    assert TemporalSettings.from_env({HEARTBEAT_VAR: "4"}).heartbeat_s == 4.0


@pytest.mark.parametrize("raw", ["0.5", "-3", "soon", "nan", "inf"])
def test_a_heartbeat_that_is_not_seconds_of_at_least_one_is_refused(raw: str) -> None:
    with pytest.raises(UsageError, match=f"{HEARTBEAT_VAR}={raw!r}.*at least 1"):
        TemporalSettings.from_env({HEARTBEAT_VAR: raw})


def test_apply_with_a_bad_heartbeat_exits_2_before_opening_a_run(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    done = subprocess.run(
        [sys.executable, "-m", "patchwarden", "apply", str(DATA / "small-campaign.yaml"),
         "--engine", "temporal", "--no-wait", "--db", f"sqlite:///{db}"],
        env={"PATH": "/usr/bin:/bin", HEARTBEAT_VAR: "0"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert HEARTBEAT_VAR in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not db.exists()
