"""Chaos: `kill -9` of the runner at random points of a real lab campaign, then `resume`.

Each campaign rolls the clean ``pw-web`` fix over the four lab hosts (two batches of two),
with the reboot-requiring ``pw-kernel`` on two of them. Its runner, ``patchwarden apply
--real`` and then ``patchwarden resume``, each a process of its own, is killed with SIGKILL
several times at seeded random points; a last, untouched ``resume`` must finish it. After
each kill the journal must be sound; after each campaign:

- the run completed, every unit succeeded;
- every host installed each target exactly once (``status installed`` lines in the host's
  own ``/var/log/dpkg.log``) and runs the target versions;
- every host is up and healthy; kernel hosts were rebooted (new boot id, no
  ``/run/reboot-required``), the others were not (the campaign uses no load balancer, so
  the reboot state and service health are what "left in maintenance" means here);
- the journal is intact: ``seq`` contiguous from 1, no outcome or observation without an
  open start, every started step has an outcome.

Kill points (the runner kills itself at the chosen point, exactly as ``kill -9`` would, or
this test kills it from outside after a random delay):

- ``before:N`` / ``after:N``: just before / just after the N-th journal write commits;
- ``install:D``: D seconds into the first ``apt-get install`` (the host's dpkg is mid-run);
- ``reboot:D``: D seconds into the first reboot (the host is going down, away or back);
- ``wall:D``: D seconds after the runner process started.

Run as a script, this file is the runner under chaos: ``test_chaos.py SPEC patchwarden-args``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.store import open_store
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_checks import dpkg_installs, journal_problems
from patchwarden.testing.lab_plan import KERNEL_FIX, WEB_FIX, lab_rolling_plan
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import LoopThread

HOSTS = ["lab-01", "lab-02", "lab-03", "lab-04"]
REBOOTING = {"lab-02", "lab-03"}
# Seeded, so a failure replays; another seed (soak runs) through the environment.
SEED = int(os.environ.get("PATCHWARDEN_CHAOS_SEED", "20260601"))
# 15 kills in `make test`; `make soak` asks for 30 on each of several seeds.
KILLS_WANTED = int(os.environ.get("PATCHWARDEN_CHAOS_KILLS", "15"))
KILLS_PER_CAMPAIGN = 3
# A campaign without kills writes 26 journal records: the spread for write kill points.
FULL_RUN_RECORDS = 26


# -- the runner under chaos (a child process) ---------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(spec: str) -> None:
    """Make this process SIGKILL itself at ``spec``'s point."""
    from patchwarden.drivers.apt import AptDriver
    from patchwarden.drivers.power import CommandPowerDriver
    from patchwarden.engine.store_journal import StoreJournal

    kind, _, arg = spec.partition(":")
    if kind in ("before", "after"):
        nth, writes = int(arg), [0]
        append = StoreJournal.append

        def counted(self: StoreJournal, *args: Any, **kwargs: Any) -> None:
            writes[0] += 1
            if kind == "before" and writes[0] == nth:
                _die()
            append(self, *args, **kwargs)
            if kind == "after" and writes[0] == nth:
                _die()

        StoreJournal.append = counted  # type: ignore[method-assign]  # the test swaps in a stand-in
        return
    owner: Any = {"install": AptDriver, "reboot": CommandPowerDriver}[kind]
    original: Callable[..., Awaitable[Any]] = getattr(owner, kind)
    armed = [False]

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not armed[0]:
            armed[0] = True
            asyncio.get_running_loop().call_later(float(arg), _die)
        return await original(self, *args, **kwargs)

    setattr(owner, kind, timed)


def _child(argv: list[str]) -> int:
    spec, args = argv[0], argv[1:]
    if not spec.startswith("wall:"):  # wall kills come from outside
        _arm(spec)
    from patchwarden.cli.main import main

    return main(args)


# -- the test -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the chaos did, for the report at the end."""

    kills: dict[str, int] = field(default_factory=dict)
    missed: int = 0
    campaigns: int = 0
    resumes: int = 0

    @property
    def total(self) -> int:
        return sum(self.kills.values())


def _spec(rng: random.Random, records_so_far: int, first: bool) -> str:
    kinds = ["before", "after", "install", "reboot"] + ([] if first else ["wall"])
    kind = rng.choice(kinds)
    if kind in ("before", "after"):
        return f"{kind}:{rng.randint(1, max(1, FULL_RUN_RECORDS - records_so_far))}"
    limit = {"install": 0.45, "reboot": 2.3, "wall": 4.5}[kind]
    low = 1.0 if kind == "wall" else 0.0  # the runner's first second is Python starting up
    return f"{kind}:{rng.uniform(low, limit):.3f}"


@pytest.fixture
def chaos_env(lab: Lab, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield lab.cli_env()


def _runner(env: dict[str, str], spec: str, args: list[str]) -> int:
    """Run ``patchwarden ARGS`` under chaos; returns its exit status (-9 when killed)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, spec, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if spec.startswith("wall:"):
            try:
                proc.wait(float(spec.split(":")[1]))
            except subprocess.TimeoutExpired:
                proc.kill()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), f"{spec}: exit {proc.returncode}: {out}"
    return proc.returncode


def _reset(lab: Lab, real: RealDrivers, loop: LoopThread) -> tuple[dict[str, int], dict[str, str]]:
    """Every host back to the lab's starting versions; returns log offsets and boot ids."""

    async def put_back() -> dict[str, str]:
        await asyncio.gather(*(real.packages.install(h, INITIAL) for h in HOSTS))
        return dict(
            zip(HOSTS, await asyncio.gather(*(real.power.boot_id(h) for h in HOSTS)), strict=True)
        )

    boots = loop.run(put_back())
    offsets = {h: (lab.host(h).root / "var/log/dpkg.log").stat().st_size for h in HOSTS}
    return offsets, boots


@pytest.mark.timeout(420)
def test_kill_9_at_random_points_then_resume_finishes_every_campaign(
    lab: Lab, real: RealDrivers, loop: LoopThread, chaos_env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(lab_rolling_plan(HOSTS, reboot=REBOOTING).model_dump_json())
    tally = Tally()
    started = time.monotonic()
    while tally.total < KILLS_WANTED:
        assert tally.campaigns < 2 * KILLS_WANTED // KILLS_PER_CAMPAIGN, "too many kills missed"
        tally.campaigns += 1
        offsets, boots = _reset(lab, real, loop)
        db = f"sqlite:///{tmp_path / f'campaign-{tally.campaigns}.db'}"
        env = {**chaos_env, "PATCHWARDEN_DB": db}
        run_id, finished = "", False
        apply = ["apply", str(plan_file), "--inventory", str(lab.inventory_path), "--real"]
        for _ in range(KILLS_PER_CAMPAIGN):
            with open_store(db) as store:
                run = store.latest_run()
                run_id = run.id if run is not None else ""
                events = store.events(run_id) if run_id else []
            spec = _spec(rng, len(events), first=not run_id)
            status = _runner(env, spec, ["resume", run_id] if run_id else apply)
            with open_store(db) as store:
                run = store.latest_run()
                assert run is not None, f"{spec}: killed before the run was recorded"
                run_id = run.id
                problems = journal_problems(store.events(run.id), finished=False)
            assert not problems, f"campaign {tally.campaigns}, kill {spec}: {problems}"
            if status == 0:
                tally.missed += 1
                finished = True
                break
            kind = spec.split(":")[0]
            tally.kills[kind] = tally.kills.get(kind, 0) + 1
        if not finished:
            tally.resumes += 1
            resumed = subprocess.run(
                [sys.executable, "-m", "patchwarden", "resume", run_id],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        _check_campaign(lab, real, loop, db, offsets, boots, f"campaign {tally.campaigns}")
    elapsed = time.monotonic() - started
    print(
        f"\nchaos (seed {SEED}): {tally.total} kills {tally.kills} "
        f"over {tally.campaigns} campaigns "
        f"({tally.missed} kill points not reached, {tally.resumes} final resumes) "
        f"in {elapsed:.0f} s; every invariant held"
    )


def _check_campaign(
    lab: Lab,
    real: RealDrivers,
    loop: LoopThread,
    db: str,
    offsets: dict[str, int],
    boots: dict[str, str],
    name: str,
) -> None:
    with open_store(db) as store:
        run = store.latest_run()
        assert run is not None
        events = store.events(run.id)
    assert run.state == "completed", f"{name}: run ended {run.state}"
    assert run.summary is not None and run.summary["units"] == {"succeeded": len(HOSTS)}
    assert not journal_problems(events, finished=True), f"{name}: {journal_problems(events, True)}"

    async def facts() -> list[tuple[dict[str, str], str, bool, bool]]:
        async def one(host: str) -> tuple[dict[str, str], str, bool, bool]:
            versions = await real.packages.installed(host, ["pw-web", "pw-kernel"])
            reboot = await real.apt.reboot_required(host)
            health = await real.health.check(host)
            return versions, await real.power.boot_id(host), reboot.required, health.ok

        return list(await asyncio.gather(*(one(h) for h in HOSTS)))

    lab.wait_up()
    for host, (versions, boot, reboot_required, healthy) in zip(
        HOSTS, loop.run(facts()), strict=True
    ):
        kernel = host in REBOOTING
        targets = dict(WEB_FIX + (KERNEL_FIX if kernel else ()))
        installs = dpkg_installs(lab.host(host).root / "var/log/dpkg.log", offsets[host])
        wanted = sorted(f"{name}:all {version}" for name, version in targets.items())
        assert sorted(installs) == wanted, f"{name}: {host} installed {installs}, not once each"
        expected = {"pw-web": "1.0-2", "pw-kernel": "1.0-2" if kernel else "1.0-1"}
        assert versions == expected, f"{name}: {host} has {versions}"
        assert (boot != boots[host]) is kernel, f"{name}: {host} reboot state wrong"
        assert not reboot_required, f"{name}: {host} still asks for a reboot"
        assert healthy, f"{name}: {host} is not healthy"
        assert lab.status()["hosts"][host]["state"] == "up"


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
