"""Temporal runs on the lab survive the loss of a worker, of Temporal, and of PostgreSQL.

Each test runs one real campaign, ``apply --real --engine temporal``, on three lab hosts in
two batches (real ``apt`` over SSH; one host also takes the reboot-requiring kernel fix),
with the store on a real PostgreSQL server and a real ``temporal server start-dev`` on a
file database, carried out by real ``patchwarden worker`` processes. The three tests share
one PostgreSQL server, one Temporal server, one database and the workers (module-scoped):
each fault leaves them running again for the next test. While a host's patch step runs
(its ``dpkg`` is running, or failing that a patch step is journaled as started and not
ended), once ``apply --no-wait`` has handed the run over and exited, one part is killed
with SIGKILL:

- a worker: another is started; the cut-off step is retried there once the dead worker's
  heartbeat is missed (``PATCHWARDEN_TEMPORAL_HEARTBEAT``, 6 s here instead of 20 s: the
  same mechanism, found sooner);
- the Temporal server: it is started again on the same file and port once the step it cut
  off has finished on the host and journaled its outcome, so the worker's report of it
  goes to a server that is gone;
- PostgreSQL: it is started again on the same data folder once the host has installed
  the step's packages, so the step's outcome is written while the database is down.

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
from patchwarden.service.temporal import HEARTBEAT_VAR
from patchwarden.service.temporal_status import workflow_view
from patchwarden.store import RunRecord, Store, open_store
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_checks import OUTCOMES, dpkg_installs, dpkg_running, journal_problems
from patchwarden.testing.lab_plan import KERNEL_FIX, WEB_FIX, lab_rolling_plan
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import LoopThread
from patchwarden.testing.postgres import PostgresServer
from patchwarden.testing.temporal import TemporalDevServer, WorkerPool

pytestmark = pytest.mark.slow

T = TypeVar("T")
HOSTS = ["lab-01", "lab-02", "lab-03"]  # two batches: lab-01 and lab-02, then lab-03
REBOOTING = {"lab-02"}
HEARTBEAT_S = 6  # each beat is sent within 0.8 of it: 1.2 s to spare on a busy machine


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """The store's server for these tests; the PostgreSQL fault kills and restarts it."""
    with PostgresServer.started() as server:
        yield server


@pytest.fixture(scope="module")
def temporal() -> Iterator[TemporalDevServer]:
    """The Temporal server of these tests; the Temporal fault kills and restarts it."""
    with TemporalDevServer.started() as server:
        yield server


@pytest.fixture(scope="module")
def env(lab: Lab, pg: PostgresServer, temporal: TemporalDevServer) -> Iterator[dict[str, str]]:
    """One store for the three campaigns: each test reads only its own run."""
    name = f"faults_{uuid.uuid4().hex[:12]}"
    url = pg.create_database(name)
    yield lab.cli_env(
        url, PATCHWARDEN_TEMPORAL_ADDRESS=temporal.address, **{HEARTBEAT_VAR: str(HEARTBEAT_S)}
    )
    with contextlib.suppress(Exception):  # the server may be down if a test failed there
        pg.drop_database(name)


@pytest.fixture(scope="module")
def workers(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """The workers of the three campaigns; a test starts one where none is running."""
    pool = WorkerPool(env, tmp_path_factory.mktemp("workers"))
    yield pool
    pool.stop()


def serving(workers: WorkerPool) -> subprocess.Popen[str]:
    """The one worker running: left by the test before, else started now."""
    alive = [p for p in workers.procs if p.poll() is None]
    assert len(alive) <= 1, "one worker at a time, so the one killed is the one at work"
    return alive[0] if alive else workers.start()


def wait_for(condition: Callable[[], T | None], seconds: float, every: float = 0.05) -> T | None:
    """``condition()`` once it is truthy, polled every ``every`` s; ``None`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    return None


class Campaign:
    """One campaign on the lab: started, watched through the store, then checked."""

    def __init__(
        self,
        lab: Lab,
        real: RealDrivers,
        loop: LoopThread,
        env: dict[str, str],
        workers: WorkerPool,
    ):
        self.lab, self.real, self.loop, self.env, self.workers = lab, real, loop, env, workers
        self.started = time.monotonic()
        self.transcript: list[str] = []

        async def put_back() -> dict[str, str]:
            await asyncio.gather(*(real.packages.install(h, INITIAL) for h in HOSTS))
            boots = await asyncio.gather(*(real.power.boot_id(h) for h in HOSTS))
            return dict(zip(HOSTS, boots, strict=True))

        self.boots = loop.run(put_back())
        self.offsets = {h: self._dpkg_log(h).stat().st_size for h in HOSTS}
        self.run_id = ""
        self.apply: subprocess.Popen[str] | None = None
        self.store = open_store(env["PATCHWARDEN_DB"])
        self.say("hosts back at their starting versions")

    def close(self) -> None:
        if self.apply is not None and self.apply.poll() is None:  # the test failed early
            self.apply.kill()
            self.apply.communicate(timeout=30)
        self.store.close()

    def _dpkg_log(self, host: str) -> Path:
        return self.lab.host(host).root / "var/log/dpkg.log"

    def say(self, line: str) -> None:
        self.transcript.append(f"{time.monotonic() - self.started:6.1f}s {line}")

    def start(self, tmp_path: Path) -> None:
        """Start ``apply --no-wait``; the run is watched from the moment the store has it."""
        plan = tmp_path / "plan.json"
        plan.write_text(lab_rolling_plan(HOSTS, reboot=REBOOTING, batch_size=2).model_dump_json())
        before = self._read(lambda store: store.latest_run())
        self.apply = subprocess.Popen(
            [sys.executable, "-m", "patchwarden", "apply", str(plan), "--inventory",
             str(self.lab.inventory_path), "--real", "--engine", "temporal", "--no-wait"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

        def opened() -> RunRecord | None:
            run = self._read(lambda store: store.latest_run())
            return run if run is not None and (before is None or run.id != before.id) else None

        run = wait_for(opened, 120, every=0.02)
        assert run is not None, self.apply.communicate(timeout=60)[0]
        self.run_id = run.id
        self.say(f"run {run.id} opened")

    def _applied(self) -> bool:
        """Whether ``apply`` has handed the run to Temporal and exited (it must exit 0)."""
        assert self.apply is not None, "start the campaign first"
        if self.apply.returncode is None:
            if self.apply.poll() is None:
                return False
            output = self.apply.communicate()[0]
            assert self.apply.returncode == 0, output
        return True

    def _read(self, read: Callable[[Store], T]) -> T | None:
        """Read the store; ``None`` while it cannot be reached (PostgreSQL killed)."""
        try:
            return read(self.store)
        except (StoreError, SQLAlchemyError):
            return None

    def _open_patches(self) -> list[str]:
        """Hosts whose patch step is journaled as started and has no outcome yet."""
        hosts: dict[str, str] = {}
        for event in self._read(lambda store: store.events(self.run_id)) or []:
            if event.event == "started" and event.payload.get("action") == "patch":
                hosts[event.step_id] = str(event.payload["target"])
            elif event.event in OUTCOMES:
                hosts.pop(event.step_id, None)
        return sorted(hosts.values())

    def _dpkg_anywhere(self) -> str | None:
        return next((h for h in HOSTS if dpkg_running(self.lab.host(h).root)), None)

    def wait_mid_patch(self) -> str:
        """Wait until a host's ``dpkg`` runs: the fault then cuts a patch step in two.

        Failing that (dpkg ran between two looks), while a patch step is journaled as
        started and not ended: the fault then still cuts that step. Only once ``apply``
        has exited, so the fault is the run's, not the starting command's.
        """
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not self._applied():
                time.sleep(0.01)
                continue
            if host := self._dpkg_anywhere():
                self.say(f"apply exited; dpkg running on {host}")
                return host
            if self._open_patches():
                if host := wait_for(self._dpkg_anywhere, 3.0, every=0.005):
                    self.say(f"apply exited; dpkg running on {host}")
                    return host
                if still := self._open_patches():
                    self.say(f"apply exited; patch step of {still[0]} running (dpkg not caught)")
                    return still[0]
            time.sleep(0.01)
        raise AssertionError(f"no patch step was seen running: {self.transcript}")

    def wait_installed(self, host: str) -> None:
        """Wait until ``host``'s dpkg has installed the step's packages and exited."""
        kernel = KERNEL_FIX if host in REBOOTING else ()
        wanted = len(WEB_FIX + kernel)

        def installed() -> bool:
            done = dpkg_installs(self._dpkg_log(host), self.offsets[host])
            return len(done) >= wanted and not dpkg_running(self.lab.host(host).root)

        assert wait_for(installed, 60), f"{host} did not install its packages in 60 s"
        self.say(f"{host} installed its packages, while PostgreSQL is down")

    def wait_outcome(self, host: str) -> None:
        """Wait until the patch step of ``host`` has journaled its outcome."""

        def outcome() -> str | None:
            steps = set()
            for event in self._read(lambda store: store.events(self.run_id)) or []:
                if event.event == "started" and event.payload.get("action") == "patch":
                    if event.payload.get("target") == host:
                        steps.add(event.step_id)
                elif event.event in OUTCOMES and event.step_id in steps:
                    return event.event
            return None

        found = wait_for(outcome, 60, every=0.1)
        assert found, f"the patch step of {host} journaled no outcome in 60 s"
        self.say(f"patch step of {host} {found}, journaled while Temporal is down")

    def wait_ended(self, seconds: float = 150) -> RunRecord:
        def ended() -> RunRecord | None:
            run = self._read(lambda store: store.get_run(self.run_id))
            if run is not None and run.state in ("completed", "completed_with_failures", "failed"):
                return run
            return None

        run = wait_for(ended, seconds, every=0.2)
        if run is None:
            raise AssertionError(f"the run did not end in {seconds} s: {self._why()}")
        self.say(f"run {run.state}")
        return run

    def _why(self) -> str:
        """What the journal, Temporal and the workers say of a run that did not end."""
        events = self._read(lambda store: store.events(self.run_id)) or []
        run = self._read(lambda store: store.get_run(self.run_id))
        seen = workflow_view(run, []) if run is not None else None
        return "\n".join(
            [*self.transcript, f"journal tail: {events[-6:]}", f"Temporal: {seen}",
             f"workers: {self.workers.tails()}"]
        )  # fmt: skip

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


@pytest.fixture
def campaign(
    lab: Lab, real: RealDrivers, loop: LoopThread, env: dict[str, str], workers: WorkerPool
) -> Iterator[Campaign]:
    found = Campaign(lab, real, loop, env, workers)
    yield found
    found.close()


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_patch_is_replaced(
    campaign: Campaign, workers: WorkerPool, tmp_path: Path
) -> None:
    first = serving(workers)
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
    campaign: Campaign, temporal: TemporalDevServer, workers: WorkerPool, tmp_path: Path
) -> None:
    serving(workers)
    campaign.start(tmp_path)
    host = campaign.wait_mid_patch()
    temporal.kill()
    campaign.say("Temporal server SIGKILLed")
    campaign.wait_outcome(host)
    temporal.start()
    campaign.say("Temporal server started again on its file")
    campaign.check(campaign.wait_ended())


@pytest.mark.timeout(240)
def test_postgresql_killed_and_restarted(
    campaign: Campaign, pg: PostgresServer, workers: WorkerPool, tmp_path: Path
) -> None:
    serving(workers)
    campaign.start(tmp_path)
    host = campaign.wait_mid_patch()
    pg.kill()
    campaign.say("PostgreSQL SIGKILLed")
    campaign.wait_installed(host)
    pg.start()
    campaign.say("PostgreSQL started again on its data folder")
    campaign.check(campaign.wait_ended())
