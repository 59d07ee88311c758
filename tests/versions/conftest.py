"""Oracles: the real dpkg and librpm, each asked about many pairs in one process.

Both come from Debian packages that scripts/lab-deps installs (listed in
scripts/lab-packages.txt); the tests fail, not skip, without them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence

import pytest

Pair = tuple[str, str]
Oracle = Callable[[Sequence[Pair]], list[int | None]]

# Two dpkg runs at most per pair: "lt", then "gt" when not less. Exit 2 means bad syntax.
_DPKG_LINE = (
    "dpkg --compare-versions -- {a} lt {b} 2>/dev/null; l=$?; "
    'if [ $l = 1 ]; then dpkg --compare-versions -- {a} gt {b} 2>/dev/null; echo "1 $?"; '
    'else echo "$l -"; fi'
)

# Run by Debian's own interpreter: python3-rpm is not importable from the virtualenv.
_RPM_SCRIPT = """
import json, sys, rpm
out = []
for line in sys.stdin:
    a, b = json.loads(line)
    out.append(str(rpm.labelCompare(tuple(a), tuple(b))))
print("\\n".join(out))
"""
# rpm.ver splits an EVR string with librpm's own parseEVR.
_RPM_SPLIT_SCRIPT = """
import json, sys, rpm
for line in sys.stdin:
    v = rpm.ver(json.loads(line))
    print(json.dumps([v.e, v.v, v.r]))
"""
_SYSTEM_PYTHON = "/usr/bin/python3"


def _dpkg(pairs: Sequence[Pair]) -> list[int | None]:
    """dpkg's answer per pair: -1, 0, 1, or None when dpkg rejects either version."""
    if not pairs:
        return []
    script = "\n".join(_DPKG_LINE.format(a=shlex.quote(a), b=shlex.quote(b)) for a, b in pairs)
    done = subprocess.run(
        ["sh"], input=script, capture_output=True, text=True, check=True, timeout=120
    )
    answers: list[int | None] = []
    for line in done.stdout.splitlines():
        less, greater = line.split()
        if less == "0":
            answers.append(-1)
        elif less == "2" or greater == "2":
            answers.append(None)
        else:
            answers.append(1 if greater == "0" else 0)
    assert len(answers) == len(pairs)
    return answers


@pytest.fixture(scope="session")
def dpkg_compare() -> Oracle:
    if shutil.which("dpkg") is None:
        pytest.fail("dpkg is missing: run scripts/lab-deps as root")
    return _dpkg


EVR = tuple[str | None, str, str | None]


def _system_python(script: str, lines: Sequence[object]) -> list[str]:
    done = subprocess.run(
        [_SYSTEM_PYTHON, "-c", script],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answers = done.stdout.splitlines()
    assert len(answers) == len(lines)
    return answers


def _rpm(pairs: Sequence[tuple[EVR, EVR]]) -> list[int]:
    """``rpm.labelCompare`` per pair of (epoch, version, release), None for absent."""
    return [int(line) for line in _system_python(_RPM_SCRIPT, [[a, b] for a, b in pairs])]


def _rpm_split(texts: Sequence[str]) -> list[EVR]:
    """librpm's (epoch, version, release) of each EVR string, None for absent."""
    return [tuple(json.loads(line)) for line in _system_python(_RPM_SPLIT_SCRIPT, texts)]


@pytest.fixture(scope="session")
def rpm_label_compare() -> Callable[[Sequence[tuple[EVR, EVR]]], list[int]]:
    probe = subprocess.run(
        [_SYSTEM_PYTHON, "-c", "import rpm"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.fail(f"python3-rpm is missing: run scripts/lab-deps as root\n{probe.stderr}")
    return _rpm


@pytest.fixture(scope="session")
def rpm_split(rpm_label_compare) -> Callable[[Sequence[str]], list[EVR]]:
    return _rpm_split
