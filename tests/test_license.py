"""The LICENSE file is the license pyproject.toml declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The SPDX id pyproject.toml may declare, and the heading of that license's text.
HEADINGS = {"Apache-2.0": ("Apache License", "Version 2.0, January 2004")}


def test_license_file_matches_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared in HEADINGS, f"no known text for {declared}: add its heading here"
    text = (ROOT / "LICENSE").read_text()
    head = [line.strip() for line in text.splitlines()[:5] if line.strip()]
    assert head[:2] == list(HEADINGS[declared])
    assert "END OF TERMS AND CONDITIONS" in text  # the whole text, not a stub
