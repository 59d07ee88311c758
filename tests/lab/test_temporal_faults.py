"""Temporal runs on the lab survive the loss of a worker, of Temporal, and of PostgreSQL.

Each test runs one real campaign, ``apply --real --engine temporal``, on three lab hosts
(real ``apt`` over SSH; one host also takes the reboot-requiring kernel fix), with the store
on a real PostgreSQL server and a real ``temporal server start-dev`` on a file database,
carried out by real ``patchwarden worker`` processes. While a host's patch step runs (its
``dpkg`` is running, or failing that its patch step is journaled as started), one part is
killed with SIGKILL:

- a worker: another is started; the cut-off step is retried there once the dead worker's
  heartbeat is missed (20 s);
- the Temporal server: it is started again on the same file and port a moment later;
- PostgreSQL: it is started again on the same data folder a moment later.

Each time the campaign must complete with every host patched exactly once (``status
installed`` lines in the host's own ``/var/log/dpkg.log``), running the target versions,
healthy, rebooted where the kernel fix asked and not elsewhere (the plan has no load
balancer, so this is what "left in maintenance" means here), and a sound journal (see
:func:`patchwarden.testing.lab_checks.journal_problems`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.exc import SQLAlchemyError

from patchwarden.drivers.real import RealDrivers
from patchwarden.errors import StoreError
from patchwarden.store import RunRecord, Store, open_store
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_checks import dpkg_installs, dpkg_running, journal_problems
from patchwarden.testing.lab_plan import KERNEL_FIX, WEB_FIX, lab_rolling_plan
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import LoopThread
from patchwarden.testing.postgres import PostgresServer
from patchwarden.testing.temporal import TemporalDevServer, WorkerPool

pytestmark = pytest.mark.slow

T = TypeVar("T")
HOSTS = ["lab-01", "lab-02", "lab-03"]
REBOOTING = {"lab-02"}


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """The store's server for these tests; the PostgreSQL fault kills and restarts it."""
    with PostgresServer.started() as server:
        yield server


@pytest.fixture
def temporal() -> Iterator[TemporalDevServer]:
    """A Temporal dev server of this test alone (the Temporal fault kills it)."""
    with TemporalDevServer.started() as server:
        yield server


@pytest.fixture
def env(lab: Lab, pg: PostgresServer, temporal: TemporalDevServer) -> Iterator[dict[str, str]]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    url = pg.create_database(name)
    yield {
        **os.environ,
        "PATCHWARDEN_DB": url,
        "PATCHWARDEN_TEMPORAL_ADDRESS": temporal.address,
        "PATCHWARDEN_SSH_KEY": str(lab.key_path),
        "PATCHWARDEN_SSH_KNOWN_HOSTS": str(lab.known_hosts),
        "COLUMNS": "160",
    }
    with contextlib.suppress(Exception):  # the server may be down if the test failed there
        pg.drop_database(name)


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(env, tmp_path)
    yield pool
    pool.stop()


class Campaign:
    """One campaign on the lab: started, watched through the store, then checked."""

    def __init__(self, lab: Lab, real: RealDrivers, loop: LoopThread, env: dict[str, str]):
        self.lab, self.real, self.loop, self.env = lab, real, loop, env
        self.started = time.monotonic()
        self.transcript: list[str] = []

        async def put_back() -> dict[str, str]:
            await asyncio.gather(*(real.packages.install(h, INITIAL) for h in HOSTS))
            boots = await asyncio.gather(*(real.power.boot_id(h) for h in HOSTS))
            return dict(zip(HOSTS, boots, strict=True))

        self.boots = loop.run(put_back())
        self.offsets = {h: self._dpkg_log(h).stat().st_size for h in HOSTS}
        self.run_id = ""

    def _dpkg_log(self, host: str) -> Path:
        return self.lab.host(host).root / "var/log/dpkg.log"

    def say(self, line: str) -> None:
        self.transcript.append(f"{time.monotonic() - self.started:6.1f}s {line}")

    def start(self, tmp_path: Path) -> None:
        plan = tmp_path / "plan.json"
        plan.write_text(lab_rolling_plan(HOSTS, reboot=REBOOTING, batch_size=1).model_dump_json())
        done = subprocess.run(
            [sys.executable, "-m", "patchwarden", "apply", str(plan), "--inventory",
             str(self.lab.inventory_path), "--real", "--engine", "temporal", "--no-wait"],
            env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        run = self._read(lambda store: store.latest_run())
        assert run is not None
        self.run_id = run.id
        self.say(f"run {run.id} started as a workflow")

    def _read(self, read: Callable[[Store], T]) -> T | None:
        """Read the store; ``None`` while it cannot be reached (PostgreSQL killed)."""
        try:
            with open_store(self.env["PATCHWARDEN_DB"]) as store:
                return read(store)
        except (StoreError, SQLAlchemyError):
            return None

    def wait_mid_patch(self) -> str:
        """Wait until a host's ``dpkg`` runs: the fault then cuts a patch step in two.

        Failing that (dpkg ran between two looks), once the last host's patch step has
        started: the fault then still lands in the middle of the run.
        """
        deadline = time.monotonic() + 120
        last = f"/{HOSTS[-1]}/"
        while time.monotonic() < deadline:
            for host in HOSTS:
                if dpkg_running(self.lab.host(host).root):
                    self.say(f"dpkg running on {host}")
                    return host
            events = self._read(lambda store: store.events(self.run_id)) or []
            opened = [e for e in events if e.event == "started" and last in e.step_id]
            if opened:
                self.say(f"{opened[0].step_id} started (dpkg not caught running)")
                return HOSTS[-1]
            time.sleep(0.01)
        raise AssertionError("no patch step was seen running")

    def wait_ended(self, seconds: float = 240) -> RunRecord:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            run = self._read(lambda store: store.get_run(self.run_id))
            if run is not None and run.state in ("completed", "completed_with_failures", "failed"):
                self.say(f"run {run.state}")
                return run
            time.sleep(0.3)
        raise AssertionError(f"the run did not end in {seconds} s: {self.transcript}")

    def check(self, run: RunRecord) -> None:
        """Every host patched exactly once, none left in maintenance, the journal sound."""
        assert run.state == "completed", self.transcript
        assert run.summary is not None and run.summary["units"] == {"succeeded": len(HOSTS)}
        events = self._read(lambda store: store.events(run.id))
        assert events is not None
        assert not journal_problems(events, finished=True), journal_problems(events, True)
        starts = [e.step_id for e in events if e.event == "started"]
        retried = sorted({s for s in starts if starts.count(s) > 1})
        self.say(f"journal: {len(events)} records, sound; steps started again: {retried}")

        async def facts() -> list[tuple[dict[str, str], str, bool, bool]]:
            async def one(host: str) -> tuple[dict[str, str], str, bool, bool]:
                versions = await self.real.packages.installed(host, ["pw-web", "pw-kernel"])
                reboot = await self.real.apt.reboot_required(host)
                health = await self.real.health.check(host)
                boot = await self.real.power.boot_id(host)
                return versions, boot, reboot.required, health.ok

            return list(await asyncio.gather(*(one(h) for h in HOSTS)))

        self.lab.wait_up()
        for host, (versions, boot, reboot_required, healthy) in zip(
            HOSTS, self.loop.run(facts()), strict=True
        ):
            kernel = host in REBOOTING
            targets = dict(WEB_FIX + (KERNEL_FIX if kernel else ()))
            installs = dpkg_installs(self._dpkg_log(host), self.offsets[host])
            wanted = sorted(f"{name}:all {version}" for name, version in targets.items())
            assert sorted(installs) == wanted, f"{host} installed {installs}, not once each"
            expected = {"pw-web": "1.0-2", "pw-kernel": "1.0-2" if kernel else "1.0-1"}
            assert versions == expected, f"{host} has {versions}"
            assert (boot != self.boots[host]) is kernel, f"{host}: reboot state wrong"
            assert not reboot_required, f"{host} still asks for a reboot"
            assert healthy, f"{host} is not healthy"
            assert self.lab.status()["hosts"][host]["state"] == "up"
        self.say("every host patched exactly once, healthy, reboot state right")
        print("\n" + "\n".join(self.transcript))


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_patch_is_replaced(
    lab: Lab,
    real: RealDrivers,
    loop: LoopThread,
    env: dict[str, str],
    workers: WorkerPool,
    tmp_path: Path,
) -> None:
    campaign = Campaign(lab, real, loop, env)
    first = workers.start()
    campaign.start(tmp_path)
    campaign.wait_mid_patch()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    campaign.say("worker SIGKILLed")
    workers.start()
    campaign.say("another worker started")
    campaign.check(campaign.wait_ended())


@pytest.mark.timeout(240)
def test_the_temporal_server_killed_and_restarted(
    lab: Lab,
    real: RealDrivers,
    loop: LoopThread,
    env: dict[str, str],
    temporal: TemporalDevServer,
    workers: WorkerPool,
    tmp_path: Path,
) -> None:
    campaign = Campaign(lab, real, loop, env)
    workers.start()
    campaign.start(tmp_path)
    campaign.wait_mid_patch()
    temporal.kill()
    campaign.say("Temporal server SIGKILLed")
    time.sleep(2)
    temporal.start()
    campaign.say("Temporal server started again on its file")
    campaign.check(campaign.wait_ended())


@pytest.mark.timeout(240)
def test_postgresql_killed_and_restarted(
    lab: Lab,
    real: RealDrivers,
    loop: LoopThread,
    env: dict[str, str],
    pg: PostgresServer,
    workers: WorkerPool,
    tmp_path: Path,
) -> None:
    campaign = Campaign(lab, real, loop, env)
    workers.start()
    campaign.start(tmp_path)
    campaign.wait_mid_patch()
    pg.kill()
    campaign.say("PostgreSQL SIGKILLed")
    time.sleep(2)
    pg.start()
    campaign.say("PostgreSQL started again on its data folder")
    campaign.check(campaign.wait_ended())
