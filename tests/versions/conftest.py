"""Oracles: the real dpkg, librpm, Maven and RubyGems, each asked about many pairs at once.

All come from Debian packages that scripts/lab-deps installs (listed in
scripts/lab-packages.txt); the tests fail, not skip, without them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

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


# --- Maven and RubyGems: one long-lived process each, asked in batches -----------------
#
# The real ComparableVersion (Maven's maven-artifact jar, run by a tiny Java class compiled
# here) and the real Gem::Version (Debian's ruby). Each reads a batch of requests, then an
# empty line, and answers the whole batch at once: it writes nothing while reading, so the
# pipes cannot fill up both ways. Versions travel as hex of UTF-16 units (Java) or JSON
# (Ruby), so any text survives, newlines and odd Unicode included.

_MAVEN_ORACLE_JAVA = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.maven.artifact.versioning.ComparableVersion;

public class MavenOracle {
    static String unhex(String h) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < h.length(); i += 4) b.append((char) Integer.parseInt(h.substring(i, i + 4), 16));
        return b.toString();
    }
    static String hex(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) b.append(String.format("%04x", (int) s.charAt(i)));
        return b.toString();
    }
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, "US-ASCII");
        StringBuilder batch = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) { out.print(batch); out.flush(); batch.setLength(0); continue; }
            String[] f = line.split(" ", -1);
            ComparableVersion a = new ComparableVersion(unhex(f[1]));
            if (f[0].equals("compare")) {
                batch.append(Integer.signum(a.compareTo(new ComparableVersion(unhex(f[2]))))).append('\\n');
            } else {
                batch.append(hex(a.getCanonical())).append('\\n');
            }
        }
    }
}
"""

_GEM_ORACLE_RUBY = r"""
require "json"
batch = []
STDIN.each_line do |line|
  if line == "\n"
    STDOUT.write(batch.map { |answer| answer + "\n" }.join)
    STDOUT.flush
    batch = []
    next
  end
  kind, a, b = JSON.parse(line)
  if kind == "compare"
    ok = Gem::Version.correct?(a) && Gem::Version.correct?(b)
    batch << (ok ? (Gem::Version.new(a) <=> Gem::Version.new(b)).to_s : "null")
  else
    v = Gem::Version.correct?(a) ? Gem::Version.new(a) : nil
    batch << JSON.generate(v && [v.version, v.prerelease?])
  end
end
"""


class BatchOracle:
    """A long-lived oracle process: one request per line, an empty line ends a batch."""

    def __init__(self, argv: list[str], cwd: str | None = None) -> None:
        self._process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="ascii",
        )

    def ask(self, requests: Sequence[str]) -> list[str]:
        """Send a batch of request lines, return one answer line per request."""
        if not requests:
            return []
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write("".join(r + "\n" for r in requests) + "\n")
        stdin.flush()
        answers = [stdout.readline() for _ in requests]
        assert all(a.endswith("\n") for a in answers), "the oracle process stopped"
        return [a[:-1] for a in answers]

    def close(self) -> None:
        """End the process: closing its input ends its read loop."""
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
        self._process.wait(timeout=30)


def _utf16_hex(text: str) -> str:
    return text.encode("utf-16-be", "surrogatepass").hex()


def _from_utf16_hex(text: str) -> str:
    return bytes.fromhex(text).decode("utf-16-be", "surrogatepass")


class MavenOracle:
    """Maven's own ComparableVersion: ``compare`` (-1, 0, 1) and ``canonical`` per version."""

    def __init__(self, process: BatchOracle, jar: Path) -> None:
        self.process = process
        self.jar = jar

    def compare(self, pairs: Sequence[Pair]) -> list[int]:
        lines = [f"compare {_utf16_hex(a)} {_utf16_hex(b)}" for a, b in pairs]
        return [int(answer) for answer in self.process.ask(lines)]

    def canonical(self, versions: Sequence[str]) -> list[str]:
        lines = [f"canonical {_utf16_hex(v)}" for v in versions]
        return [_from_utf16_hex(answer) for answer in self.process.ask(lines)]


def _maven_artifact_jar() -> Path | None:
    """maven-artifact from the installed Maven's own lib/ folder (found through ``mvn``)."""
    homes = [os.environ.get(name) for name in ("MAVEN_HOME", "M2_HOME")]
    mvn = shutil.which("mvn")
    if mvn is not None:
        homes.append(str(Path(mvn).resolve().parent.parent))
    for home in filter(None, homes):
        jars = sorted((Path(home) / "lib").glob("maven-artifact*.jar"))
        if jars:
            return jars[0].resolve()
    return None


def _jar_version(jar: Path) -> str:
    with zipfile.ZipFile(jar) as archive:
        manifest = archive.read("META-INF/MANIFEST.MF").decode()
    found = re.search(r"^Implementation-Version: *(\S+)", manifest, re.MULTILINE)
    return found[1] if found else "?"


@pytest.fixture(scope="session")
def maven_oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MavenOracle]:
    jar = _maven_artifact_jar()
    if jar is None or shutil.which("javac") is None:
        pytest.fail("Maven or a JDK is missing: run scripts/lab-deps as root")
    version = _jar_version(jar)
    if not version.startswith("3.8."):
        # Maven 3.9 changed ComparableVersion; patchwarden.versions.maven follows 3.8.
        pytest.fail(f"{jar} is Maven {version}; the Maven ordering tests expect Maven 3.8")
    work = tmp_path_factory.mktemp("maven-oracle")
    (work / "MavenOracle.java").write_text(_MAVEN_ORACLE_JAVA)
    subprocess.run(
        ["javac", "-nowarn", "-cp", str(jar), "MavenOracle.java"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=120,
    )
    process = BatchOracle(["java", "-cp", f"{jar}{os.pathsep}.", "MavenOracle"], cwd=str(work))
    yield MavenOracle(process, jar)
    process.close()


class GemOracle:
    """RubyGems' own Gem::Version: ``compare`` and ``parse`` (None where not ``correct?``)."""

    def __init__(self, process: BatchOracle) -> None:
        self.process = process

    def compare(self, pairs: Sequence[Pair]) -> list[int | None]:
        lines = [json.dumps(["compare", a, b]) for a, b in pairs]
        return [None if a == "null" else int(a) for a in self.process.ask(lines)]

    def parse(self, versions: Sequence[str]) -> list[tuple[str, bool] | None]:
        """``(version, prerelease?)`` of each valid version, None for an invalid one."""
        parsed: list[tuple[str, bool] | None] = []
        for answer in self.process.ask([json.dumps(["parse", v]) for v in versions]):
            if answer == "null":
                parsed.append(None)
            else:
                version, prerelease = json.loads(answer)
                parsed.append((version, prerelease))
        return parsed


@pytest.fixture(scope="session")
def gem_oracle() -> Iterator[GemOracle]:
    if shutil.which("ruby") is None:
        pytest.fail("ruby is missing: run scripts/lab-deps as root")
    process = BatchOracle(["ruby", "-e", _GEM_ORACLE_RUBY])
    yield GemOracle(process)
    process.close()
