"""The Temporal tests' fixtures: ``patchwarden worker`` processes on the session's server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwarden.testing.temporal import TemporalDevServer, WorkerPool


@pytest.fixture
def temporal_env(tmp_path: Path, temporal_server: TemporalDevServer) -> dict[str, str]:
    """An environment naming a fresh store and the session's Temporal server."""
    return {
        **os.environ,
        "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'temporal.db'}",
        "PATCHWARDEN_TEMPORAL_ADDRESS": temporal_server.address,
        "COLUMNS": "160",
    }


@pytest.fixture
def workers(temporal_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerPool]:
    """Workers the test starts, all stopped at its end."""
    pool = WorkerPool(temporal_env, tmp_path)
    yield pool
    pool.stop()
