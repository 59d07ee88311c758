"""What the CLI-level traffic tests share, from :mod:`patchwarden.testing.traffic_cli`.

Each test writes an inventory (the lab's hosts as ``lab up`` wrote them, plus the HAProxy in
front of them), a campaign and Debian-style advisories, then runs ``patchwarden`` as its own
process, as a person would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import advisory as dsa
from patchwarden.testing.traffic_cli import cli
from patchwarden.testing.traffic_cli import journal as read_journal
from patchwarden.testing.traffic_cli import prepare as prepare_in

__all__ = ["cli", "dsa", "journal", "prepare"]


def prepare(
    traffic: TrafficLab,
    tmp_path: Path,
    campaign: str,
    advisories: list[dict[str, Any]],
    **inventory: Any,
) -> tuple[dict[str, str], Path, Path]:
    """Lab reset; inventory, campaign and advisories written and imported; hosts scanned."""
    return prepare_in(traffic, tmp_path, campaign, advisories, **inventory)


def journal(env: dict[str, str], run_id: str = "") -> tuple[str, list[Any]]:
    """The run's state and its journal records (the latest run by default)."""
    try:
        return read_journal(env, run_id)
    except LookupError as error:
        raise AssertionError(str(error)) from None
