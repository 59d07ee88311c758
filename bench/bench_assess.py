"""Fleet assessment at scale, on the path ``patchwarden assess`` runs.

10,000 scanned hosts x 1,500 packages against 50,000 advisories (``BENCH_ASSESS_HOSTS`` or
the first argument scales the host count down while iterating). The synthetic fleet has
realistic overlap: a few dozen base images over four ecosystems (Debian 12, Ubuntu 22.04,
AlmaLinux 9, Alpine 3.19), every host built from one image with 10 % of its packages
drifted to another version.

Setup (not timed) writes what a user's store holds before ``patchwarden assess -i
inventory.yaml``: the advisories (as ``feeds import`` stores them) and one stored scan per
host (as ``scan`` stores it), plus the inventory file. The timed part runs in a fresh
process, as the command does: :func:`patchwarden.service.assessing.assess_estate`, which

* load:  reads the inventory file, the stored scans and the advisories,
* match: matches the fleet, then weighs and decides every finding,
* store: records the assessment with every finding and decision, and the inventory.

Writes bench-results/assess.json with ``seconds``, ``peak_rss_mb`` (of the assessing
process), ``rows_per_second``, ``load_seconds``, ``match_seconds``, ``store_seconds``.
Targets (issue 3): <= 30 s and <= 4 GB peak RSS; exits 1 naming the target it missed.

Every speed-up is measured in the same run: on a second, smaller fleet
(``BENCH_ASSESS_BASELINE_HOSTS``, default 1,000, built the same way) the command runs
twice from the same stored state, once with the plain one-at-a-time assessment
(:func:`patchwarden.assess.reference.assess_reference`) and once with the fleet-scale
one; ``baseline`` in the JSON holds both runs, the ratios of their wall and CPU seconds
and of their peak memory, and a digest of their findings and decisions, which must be
equal (else the bench fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from patchwarden.assess.reference import assess_reference
from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent, Severity
from patchwarden.service.assessing import assess_estate
from patchwarden.service.feeds import advisory_record
from patchwarden.service.policy import default_policy
from patchwarden.service.scan import HostScan
from patchwarden.store import open_store

HOSTS = int(os.environ.get("BENCH_ASSESS_HOSTS", "10000"))
BASELINE_HOSTS = int(os.environ.get("BENCH_ASSESS_BASELINE_HOSTS", "1000"))
PACKAGES_PER_HOST = 1_500
ADVISORIES = 50_000
IMAGES_PER_ECOSYSTEM = 8
PACKAGES_PER_ECOSYSTEM = 4_000
LADDER = 12  # versions each package has ever had
DRIFT = 0.10
SEED = 20261126
NOW = datetime(2026, 11, 26, tzinfo=UTC)

# (OSV ecosystem, version pattern) -- each valid in its own ordering.
ECOSYSTEMS = {
    "Debian:12": "{a}.{b}.{c}-{r}+deb12u{r}",
    "Ubuntu:22.04:LTS": "{a}.{b}.{c}-{r}ubuntu0.22.04.{r}",
    "AlmaLinux:9": "{a}.{b}.{c}-{r}.el9_{r}",
    "Alpine:v3.19": "{a}.{b}.{c}-r{r}",
}


# What each ecosystem's hosts report in /etc/os-release, and the ecosystem a scan records.
OS_RELEASE = {
    "Debian:12": ({"ID": "debian", "VERSION_ID": "12"}, "Debian:12", "debian", "12"),
    "Ubuntu:22.04:LTS": (
        {"ID": "ubuntu", "VERSION_ID": "22.04"},
        "Ubuntu:22.04",
        "ubuntu",
        "22.04",
    ),
    "AlmaLinux:9": ({"ID": "almalinux", "VERSION_ID": "9.4"}, "AlmaLinux:9", "alma", "9"),
    "Alpine:v3.19": ({"ID": "alpine", "VERSION_ID": "3.19.1"}, "Alpine:v3.19", "alpine", "3.19"),
}
ENVS = ("dev", "qa", "staging", "prod")


def ladder(pattern: str, rnd: random.Random) -> list[str]:
    """LADDER increasing versions of one package."""
    a, b, c = rnd.randint(0, 9), rnd.randint(0, 20), 0
    out = []
    for step in range(LADDER):
        if step % 4 == 3:
            b, c = b + 1, 0
        else:
            c += rnd.randint(1, 3)
        out.append(pattern.format(a=a, b=b, c=c, r=1 + step % 3))
    return out


def build(rnd: random.Random) -> tuple[dict[str, dict[str, list[str]]], list[Advisory]]:
    universe = {
        eco: {
            f"{eco.split(':')[0].lower()}-pkg{n:05d}": ladder(pat, rnd)
            for n in range(PACKAGES_PER_ECOSYSTEM)
        }
        for eco, pat in ECOSYSTEMS.items()
    }
    advisories = []
    ecos = list(universe)
    for n in range(ADVISORIES):
        eco = ecos[n % len(ecos)]
        names = list(universe[eco])
        affected = []
        for package in rnd.sample(names, 1 if rnd.random() < 0.8 else 2):
            versions = universe[eco][package]
            # Most advisories are history: fixed below every image (images carry ladder
            # steps 8-11); about 1.5 % are fixed in a step some hosts have not reached yet,
            # 0.15 % have no fix at all. That gives a few dozen open findings a host.
            roll = rnd.random()
            fix = rnd.randint(9, LADDER - 1) if roll < 0.015 else rnd.randint(1, 8)
            start = RangeEvent(introduced="0")
            if rnd.random() < 0.3:
                start = RangeEvent(introduced=versions[max(0, fix - 3)])
            events = [start]
            if roll > 0.9985:
                pass  # no fix yet
            elif roll > 0.97:
                events.append(RangeEvent(last_affected=versions[fix - 1]))
            else:
                events.append(RangeEvent(fixed=versions[fix]))
            listed = (
                tuple(versions[:fix]) if eco.startswith("Ubuntu") and rnd.random() < 0.3 else ()
            )
            affected.append(
                Affected(
                    ecosystem=eco,
                    package=package,
                    ranges=(Range(type="ECOSYSTEM", events=tuple(events)),),
                    versions=listed,
                )
            )
        advisories.append(
            Advisory(
                id=f"BENCH-{n:06d}",
                aliases=(f"CVE-2026-{n:05d}",),
                modified=NOW,
                severity=rnd.choice(list(Severity)),
                affected=tuple(affected),
            )
        )
    return universe, advisories


def fleet(
    universe: dict[str, dict[str, list[str]]], rnd: random.Random, hosts: int
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(host, ecosystem, packages) for every host: its image with 10 % drift."""
    images: list[tuple[str, list[str], list[str]]] = []
    for eco, packages in universe.items():
        names = list(packages)
        for _ in range(IMAGES_PER_ECOSYSTEM):
            chosen = rnd.sample(names, PACKAGES_PER_HOST)
            versions = [packages[p][rnd.randint(9, LADDER - 1)] for p in chosen]
            images.append((eco, chosen, versions))
    drift = int(PACKAGES_PER_HOST * DRIFT)
    for host in range(hosts):
        eco, chosen, versions = images[host % len(images)]
        own = list(versions)
        for slot in rnd.sample(range(PACKAGES_PER_HOST), drift):
            own[slot] = rnd.choice(universe[eco][chosen[slot]][8:])
        yield f"host-{host:05d}", eco, dict(zip(chosen, own, strict=True))


def setup(db: str, inventory: Path, hosts: int) -> dict[str, Any]:
    """Store the advisories and one scan per host; write the inventory file."""
    rnd = random.Random(SEED)
    started = time.perf_counter()
    universe, advisories = build(rnd)
    assets: list[dict[str, Any]] = []
    scans = 0
    with open_store(db) as store:
        store.upsert_advisories(advisory_record(a) for a in advisories)
        del advisories
        chunk: list[HostScan] = []
        for n, (host, eco, packages) in enumerate(fleet(universe, rnd, hosts)):
            os_release, scanned_eco, family, release = OS_RELEASE[eco]
            assets.append(
                {
                    "id": host,
                    "kind": "vm",
                    "env": ENVS[n % len(ENVS)],
                    "os": {"family": family, "release": release},
                    "connection": {
                        "transport": "ssh",
                        "address": f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
                    },
                }
            )
            chunk.append(
                HostScan(host, "ssh", NOW, ecosystem=scanned_eco, packages=packages,
                         os_release=os_release, arch="x86_64", reboot_required=False)
            )  # fmt: skip
            if len(chunk) == 200:
                store.record_scans([c.to_input() for c in chunk])
                scans += len(chunk)
                chunk = []
        store.record_scans([c.to_input() for c in chunk])
        scans += len(chunk)
    inventory.write_text(yaml.safe_dump({"assets": assets}, sort_keys=False))
    return {"scans": scans, "setup_seconds": round(time.perf_counter() - started, 3)}


def assess_once(db: str, inventory: Path, path: str) -> dict[str, Any]:
    """``patchwarden assess -i inventory`` without printing: the timed part.

    ``path`` is ``fleet`` (what the command runs) or ``reference`` (the plain path).
    """
    assessor = assess_reference if path == "reference" else None
    started = time.perf_counter()
    with open_store(db) as store:
        done = assess_estate(
            store, [inventory], demo=False, policy=default_policy(), now=NOW, record=True,
            **({"assessor": assessor} if assessor is not None else {}),
        )  # fmt: skip
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rows = sum(len(a.packages) for a in done.inventory.assets)
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        # CPU seconds beside the wall seconds: on a shared machine the two differ.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "rows_per_second": round(rows / seconds),
        "load_seconds": round(done.seconds["load"], 3),
        "match_seconds": round(done.seconds["match"], 3),
        "store_seconds": round(done.seconds["store"], 3),
        "hosts": len(done.inventory.assets),
        "installed_rows": rows,
        "advisories": ADVISORIES,
        "findings": len(done.assessment.findings),
        "decisions": len(done.assessment.decisions),
        "recorded": done.recorded,
        "digest": _digest(done.assessment),
    }


def _digest(assessment: Any) -> str:
    """sha256 of every finding and decision as JSON, in order: equal results, equal digests."""
    digest = hashlib.sha256()
    for finding, decision in zip(assessment.findings, assessment.decisions, strict=True):
        digest.update(finding.model_dump_json().encode())
        digest.update(decision.model_dump_json().encode())
    return digest.hexdigest()


def run_assess(db_file: Path, inventory: Path, path: str) -> dict[str, Any]:
    """One assessment in a fresh process (its peak memory is its own) on a copy of the store."""
    work = db_file.with_name(f"{path}-{db_file.name}")
    shutil.copyfile(db_file, work)
    done = subprocess.run(
        [sys.executable, __file__, "--assess", f"sqlite:///{work}", str(inventory), path],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    work.unlink()
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-5000:], file=sys.stderr)
        raise SystemExit(f"assess bench: the {path} assessment failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def baseline(tmp: Path) -> dict[str, Any]:
    """The plain path and the fleet path on the same smaller fleet, and their ratios."""
    db_file, inventory = tmp / "baseline.db", tmp / "baseline.yaml"
    prepared = setup(f"sqlite:///{db_file}", inventory, BASELINE_HOSTS)
    print(f"baseline: {prepared['scans']} scans stored in {prepared['setup_seconds']:.1f} s; "
          "running the reference path", flush=True)  # fmt: skip
    reference = run_assess(db_file, inventory, "reference")
    fleet_path = run_assess(db_file, inventory, "fleet")
    return {
        "hosts": BASELINE_HOSTS,
        "reference": reference,
        "fleet": fleet_path,
        "speedup": round(reference["seconds"] / fleet_path["seconds"], 2),
        "cpu_speedup": round(reference["cpu_seconds"] / fleet_path["cpu_seconds"], 2),
        "peak_rss_ratio": round(fleet_path["peak_rss_mb"] / reference["peak_rss_mb"], 3),
        "same_results": reference["digest"] == fleet_path["digest"],
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        compared = baseline(Path(tmp))
        print(f"baseline: reference {compared['reference']['seconds']} s, fleet path "
              f"{compared['fleet']['seconds']} s (x{compared['speedup']})", flush=True)  # fmt: skip
        db_file, inventory = Path(tmp) / "bench.db", Path(tmp) / "inventory.yaml"
        prepared = setup(f"sqlite:///{db_file}", inventory, HOSTS)
        print(f"setup: {ADVISORIES} advisories and {prepared['scans']} scans stored in "
              f"{prepared['setup_seconds']:.1f} s", flush=True)  # fmt: skip
        out = {**run_assess(db_file, inventory, "fleet"), **prepared, "baseline": compared}
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/assess.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    missed = [
        f"missed target {key} {goal}: got {got}"
        for key, goal, got, met in (
            ("seconds", "<= 30", out["seconds"], out["seconds"] <= 30),
            ("peak_rss_mb", "<= 4096", out["peak_rss_mb"], out["peak_rss_mb"] <= 4096),
            ("baseline.same_results", "true", compared["same_results"], compared["same_results"]),
        )
        if not met
    ]
    for line in missed:
        print(f"assess bench: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--assess":
        print(json.dumps(assess_once(sys.argv[2], Path(sys.argv[3]), sys.argv[4])))
        sys.exit(0)
    sys.exit(main())
