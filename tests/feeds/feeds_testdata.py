"""Paths to the real feed data copied into tests/data (see the READMEs there for sources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent.parent / "data"
OSV_DIR = DATA / "osv"
FEEDS_DIR = DATA / "feeds"
KEV_JSON = FEEDS_DIR / "known_exploited_vulnerabilities.sample.json"
KEV_CSV = FEEDS_DIR / "known_exploited_vulnerabilities.sample.csv"
EPSS_CSV = FEEDS_DIR / "epss_scores-current.head42.csv"

OSV_FILES = sorted(OSV_DIR.rglob("*.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def record(name: str) -> Any:
    """The raw record of a file by its stem, e.g. ``CVE-2009-1143`` or ``ALSA-2021_1761``."""
    (path,) = [p for p in OSV_FILES if p.stem == name]
    return load(path)
