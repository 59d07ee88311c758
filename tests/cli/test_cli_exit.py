"""A command that loaded Temporal's client ends without finalizing the interpreter.

Temporal's Rust core can abort the process during interpreter finalization after the
command itself succeeded (temporalio/sdk-python#300; seen here as ``resume`` of a Temporal
run exiting with SIGABRT). Such a command flushes its output and leaves with ``os._exit``;
its exit code and output are unchanged, and any other command exits as Python does.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs the command line as its script does, with an atexit hook that says whether the
# interpreter finalized; the first argument says whether to load Temporal's core first.
_SCRIPT = """
import atexit, sys
if sys.argv[1] == "temporal":
    import temporalio.bridge.temporal_sdk_bridge
atexit.register(lambda: print("finalized", flush=True))
from patchwarden.cli.main import main
sys.argv = ["patchwarden", *sys.argv[2:]]
main()
"""


def _run(core: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, core, *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("core", "finalized"), [("temporal", False), ("none", True)])
def test_output_and_exit_code_survive_with_or_without_temporal(core: str, finalized: bool) -> None:
    done = _run(core, "--version")
    assert done.returncode == 0, done.stderr
    assert "patchwarden" in done.stdout  # flushed although stdout is a pipe
    assert ("finalized" in done.stdout) is finalized

    refused = _run(core, "plan", "no-such-campaign.yaml")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no-such-campaign.yaml" in refused.stderr
    assert ("finalized" in refused.stdout) is finalized
