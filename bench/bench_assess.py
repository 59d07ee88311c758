"""Fleet assessment at scale: 10,000 hosts x 1,500 packages against 50,000 advisories.

The synthetic fleet has realistic overlap: a few dozen base images over four ecosystems
(Debian 12, Ubuntu 22.04, AlmaLinux 9, Alpine 3.19), every host built from one image with
10 % of its packages drifted to another version. Advisories are stored in a real SQLite
store first (setup, not timed); the timed assessment then

* load:  reads the advisories back from the store and interns the fleet's installed rows,
* match: indexes the advisories and matches the distinct tuples, fanned out to hosts,
* store: records the assessment and its findings in the store.

Writes bench-results/assess.json. Targets (issue 3): <= 30 s and <= 4 GB peak RSS.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
from array import array
from datetime import UTC, datetime
from pathlib import Path

from patchwarden.assess.match import AdvisoryIndex, InstalledTable, match_table
from patchwarden.domain.advisories import Advisory, Affected, Range, RangeEvent, Severity
from patchwarden.service.feeds import advisory_record, stored_advisories
from patchwarden.store import open_store

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
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


def fleet(universe: dict[str, dict[str, list[str]]], rnd: random.Random) -> InstalledTable:
    """Intern images once; each host is its image's id array with 10 % drift."""
    table = InstalledTable()
    images: list[tuple[str, list[str], array[int]]] = []
    for eco, packages in universe.items():
        names = list(packages)
        for _ in range(IMAGES_PER_ECOSYSTEM):
            chosen = rnd.sample(names, PACKAGES_PER_HOST)
            ids = array(
                "i", (table.intern(eco, p, packages[p][rnd.randint(9, LADDER - 1)]) for p in chosen)
            )
            images.append((eco, chosen, ids))
    drift = int(PACKAGES_PER_HOST * DRIFT)
    for host in range(HOSTS):
        eco, chosen, ids = images[host % len(images)]
        own = array("i", ids)
        for slot in rnd.sample(range(PACKAGES_PER_HOST), drift):
            package = chosen[slot]
            own[slot] = table.intern(eco, package, rnd.choice(universe[eco][package][8:]))
        table.add_host_ids(f"host-{host:05d}", own)
    return table


def main() -> int:
    rnd = random.Random(SEED)
    t = time.perf_counter()
    universe, advisories = build(rnd)
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_store(f"sqlite:///{Path(tmp) / 'bench.db'}") as store,
    ):
        store.upsert_advisories(advisory_record(a) for a in advisories)
        del advisories
        setup = time.perf_counter() - t
        print(f"setup: {ADVISORIES} advisories stored in {setup:.1f} s", flush=True)

        start = time.perf_counter()
        catalog = stored_advisories(store)
        table = fleet(universe, rnd)
        loaded = time.perf_counter()

        index = AdvisoryIndex(catalog)
        result = match_table(table, index)
        matched = time.perf_counter()

        findings = [
            {
                "asset_id": host,
                "package": table.tuples[tuple_id][1],
                "installed": table.tuples[tuple_id][2],
                "advisory_id": hit.advisory.id,
                "fixed": hit.fixed or None,
                "severity": hit.advisory.severity.value,
                "recommended": result.exposures[tuple_id].recommended,
            }
            for host, tuple_id, hit in result.rows()
        ]
        summary = {"hosts": len(table.hosts), "rows": table.rows, "findings": len(findings)}
        store.record_assessment(summary, findings)
        stored = time.perf_counter()

    seconds = stored - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_mb, 1),
        "rows_per_second": round(table.rows / seconds),
        "load_seconds": round(loaded - start, 3),
        "match_seconds": round(matched - loaded, 3),
        "store_seconds": round(stored - matched, 3),
        "hosts": len(table.hosts),
        "installed_rows": table.rows,
        "distinct_tuples": len(table.tuples),
        "advisories": len(catalog),
        "findings": len(findings),
        "setup_seconds": round(setup, 3),
    }
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/assess.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    ok = seconds <= 30 and peak_mb <= 4096
    print("assess bench:", "within target" if ok else "OVER TARGET (30 s, 4 GB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
