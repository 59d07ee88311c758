"""Orchestration overhead: patchwarden's engine against Ansible on the same rolling job.

The job of ``shared/anchors/ansible-rolling/run.sh``: 100 hosts, 4 steps per host (drain,
patch, health, undrain), each the command ``true``, in batches of 10 (10 at a time, at most
10% failures), run twice:

* **local**: every host on the local transport (Ansible: ``ansible_connection=local``,
  ``command`` module; patchwarden: :class:`LocalTransport`);
* **ssh**: the 100 hosts spread over the 10 hosts of a lab brought up for the bench (real
  sshd, chroots, loopback; needs root), strict host keys, the lab's client key, for both
  tools (Ansible: its ``ssh`` connection with ControlPersist and the same ``command``
  tasks; patchwarden: its pooled asyncssh transport). Ansible's modules need Python on the
  target, which the lab's minbase hosts lack: this interpreter's installation is bind-mounted
  read-only into each host at the same path for the bench.

Patchwarden runs what ``patchwarden apply`` runs: a plan of ``host_unit`` units (drain,
patch, health, enable) driven by :func:`patchwarden.service.runs.drive`, journaled to a
SQLite store before and after every step. Only the drivers are the bench's own: the load
balancer's drain/enable, the package install and the health check each run ``true`` on the
host through the transport, once per step, as Ansible's tasks do. Both tools are timed as
whole processes (interpreter start-up included), in the same run; patchwarden's store
exists before the clock starts (a user's store does), its schema check is timed.

Ansible comes from PyPI (``ansible-core>=2.16``) into its own virtualenv in the user's cache
(``ANSIBLE_VENV`` overrides), never into patchwarden's dependencies. Writes
``bench-results/overhead.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from fake_drivers import acting_drivers  # beside this file (the bench runs as a script)

from patchwarden.domain.assets import Connection
from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.domain.steps import DrainParams, EnableParams
from patchwarden.drivers.real import HostRouter
from patchwarden.drivers.ssh import SshConfig, SshTransport
from patchwarden.drivers.transport import LocalTransport, Transport
from patchwarden.planning.steps import host_unit
from patchwarden.service.runs import drive, start_run
from patchwarden.store import open_store

HOSTS = 100
BATCH = 10
LAB_HOSTS = 10
HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "bench-results" / "overhead.json"
PLAYBOOK = HERE / "ansible" / "rolling.yml"
TRUE = ("true",)
LB, POOL = "bench-lb", "fleet"


# -- patchwarden's side -----------------------------------------------------------------------


def bench_plan(hosts: list[str]) -> Plan:
    """The job as a plan: batches of :data:`BATCH` units of drain, patch, health, enable."""
    units = [
        host_unit(
            "bench.fleet",
            h,
            (("bench-fix", "1"),),
            False,
            before=[DrainParams(lb=LB, pool=POOL)],
            after=[EnableParams(lb=LB, pool=POOL)],
        )
        for h in hosts
    ]
    batches = tuple(
        Batch(id=f"bench.fleet/b{i // BATCH}", units=tuple(units[i : i + BATCH]))
        for i in range(0, len(units), BATCH)
    )
    return Plan(
        campaign="bench rolling",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        environments=("bench",),
        waves=(
            Wave(id="bench.fleet", env="bench", group="fleet", strategy="rolling", batches=batches),
        ),
        max_concurrency=BATCH,
        max_errors=len(hosts) // 10,
    )


def run_patchwarden(case: str, lab_dir: str, db: str) -> float:
    """Run the job with patchwarden in this process; returns the engine's seconds."""
    hosts = [f"h{i}" for i in range(1, HOSTS + 1)]
    transport: Transport
    if case == "local":
        transport = LocalTransport()
    else:
        lab = json.loads((Path(lab_dir) / "lab.json").read_text())["hosts"]
        connections = {
            h: Connection(
                transport="ssh",
                address=lab[i % len(lab)]["address"],
                port=lab[i % len(lab)]["ssh_port"],
                user="root",
            )
            for i, h in enumerate(hosts)
        }
        ssh = SshConfig(
            known_hosts=Path(lab_dir) / "known_hosts",
            client_keys=(Path(lab_dir) / "client" / "id_ed25519",),
            use_agent=False,
        )
        transport = HostRouter(connections, {"ssh": SshTransport(connections, ssh)})

    async def run_true(host: str) -> None:
        (await transport.run(host, TRUE)).check()

    drivers = acting_drivers(run_true, LB)
    plan = bench_plan(hosts)
    started = time.perf_counter()
    with open_store(db) as store:
        run = start_run(store, plan, datetime.now(UTC))
        _, state = drive(store, run, plan, drivers)
    seconds = time.perf_counter() - started
    if state != "completed":
        raise SystemExit(f"patchwarden {case}: run ended {state}")
    return seconds


# -- Ansible's side -------------------------------------------------------------------------


def ansible_venv() -> Path:
    """A virtualenv with ansible-core, made on first use."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    venv = Path(os.environ.get("ANSIBLE_VENV") or cache / "patchwarden-bench-ansible")
    if not (venv / "bin" / "ansible-playbook").exists():
        print(f"installing ansible-core into {venv} (first run only)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "ansible-core>=2.16"], check=True)
    return venv


def run_ansible(venv: Path, case: str, lab_dir: str, work: Path) -> float:
    """Run the job with ansible-playbook; returns its wall seconds."""
    lines = ["[fleet]"]
    if case == "local":
        python = venv / "bin" / "python"
        lines += [
            f"h{i} ansible_connection=local ansible_python_interpreter={python}"
            for i in range(1, HOSTS + 1)
        ]
    else:
        lab = json.loads((Path(lab_dir) / "lab.json").read_text())["hosts"]
        for i in range(HOSTS):
            spec = lab[i % len(lab)]
            where = f"ansible_host={spec['address']} ansible_port={spec['ssh_port']}"
            lines.append(f"h{i + 1} {where}")
        key = Path(lab_dir) / "client" / "id_ed25519"
        known = Path(lab_dir) / "known_hosts"
        lines += [
            "[fleet:vars]",
            "ansible_connection=ssh",
            "ansible_user=root",
            f"ansible_ssh_private_key_file={key}",
            "ansible_ssh_common_args='-o StrictHostKeyChecking=yes "
            f"-o UserKnownHostsFile={known} -o IdentitiesOnly=yes'",
            # This interpreter, bind-mounted into every lab host (see lab_python).
            f"ansible_python_interpreter={Path(sys.base_prefix) / 'bin' / 'python3'}",
        ]
    inventory = work / f"{case}.ini"
    inventory.write_text("\n".join(lines) + "\n")
    argv = [
        str(venv / "bin" / "ansible-playbook"),
        "-i", str(inventory), "-f", str(BATCH), "-e", f"batch={BATCH}", str(PLAYBOOK),
    ]  # fmt: skip
    env = {**os.environ, "ANSIBLE_LOCAL_TEMP": str(work / "tmp"), "ANSIBLE_NOCOLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ansible {case} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def time_patchwarden(case: str, lab_dir: str) -> tuple[float, float]:
    """Whole-process seconds of patchwarden's run (start-up included), and engine seconds."""
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as scratch:
        db = f"sqlite:///{scratch}/pw.db"
        open_store(db).close()  # a user's store exists already; creating it is not the job
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--patchwarden", case, lab_dir, db],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"patchwarden {case} failed:\n{done.stdout}{done.stderr}")
    return seconds, float(done.stdout.strip().splitlines()[-1])


RUNS = int(os.environ.get("BENCH_OVERHEAD_RUNS", "3"))
"""How many times each tool runs each case; the figures are the medians."""


@dataclass
class Case:
    """One case's figures: the median of :data:`RUNS` runs of each tool."""

    patchwarden: float
    engine: float
    ansible: float
    runs: int

    @property
    def ratio(self) -> float:
        return self.ansible / self.patchwarden


def measure(case: str, venv: Path, lab_dir: str, work: Path) -> Case:
    """Both tools on one case, each run :data:`RUNS` times, taking turns; the medians."""
    ours: list[float] = []
    engine: list[float] = []
    theirs: list[float] = []
    for _ in range(RUNS):
        whole, inside = time_patchwarden(case, lab_dir)
        ours.append(whole)
        engine.append(inside)
        theirs.append(run_ansible(venv, case, lab_dir, work))
    result = Case(median(ours), median(engine), median(theirs), RUNS)
    print(
        f"{case}: medians of {RUNS} runs: patchwarden {result.patchwarden:.2f} s "
        f"(engine {result.engine:.2f} s), ansible {result.ansible:.2f} s, "
        f"ratio {result.ratio:.1f}x; patchwarden runs {[round(x, 2) for x in ours]}, "
        f"ansible runs {[round(x, 2) for x in theirs]}"
    )
    return result


@contextmanager
def lab_python(lab: Any) -> Iterator[None]:
    """This Python installation, read-only at the same path inside every lab host."""
    prefix = Path(sys.base_prefix).resolve()
    targets = [Path(f"{spec.root}{prefix}") for spec in lab.specs()]
    mounted: list[Path] = []
    try:
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(prefix), str(target)], check=True)
            mounted.append(target)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        yield
    finally:
        for target in mounted:
            # Lazy: a session the lab has not reaped yet must not keep the lab from going.
            subprocess.run(["umount", "-l", str(target)], check=False)


def bench_lab() -> Any:
    """A lab of :data:`LAB_HOSTS` hosts for the SSH case, or None when not root."""
    if os.geteuid() != 0:
        return None
    from patchwarden.testing.lab import Lab, LabConfig

    config = LabConfig(
        dir=Path("/srv/patchwarden-lab-bench"), hosts=LAB_HOSTS, first_address="127.0.3.2"
    )
    lab = Lab(config)
    lab.down()
    lab.up()
    return lab


def main() -> int:
    """Run both cases and write the results; 1 when the SSH case could not run."""
    venv = ansible_venv()
    report: dict[str, Any] = {
        "job": {"hosts": HOSTS, "batch": BATCH, "steps_per_host": 4, "command": "true"},
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
    }
    status = 0
    with tempfile.TemporaryDirectory(prefix="pw-bench-ansible-") as scratch:
        work = Path(scratch)
        local = measure("local", venv, "", work)
        report.update(
            patchwarden_seconds=round(local.patchwarden, 3),
            patchwarden_engine_seconds=round(local.engine, 3),
            ansible_seconds=round(local.ansible, 3),
            ratio=round(local.ratio, 1),
        )
        lab = bench_lab()
        if lab is None:
            print("ssh: cannot run: the lab needs root", file=sys.stderr)
            report["ssh_not_run"] = "the lab needs root"
            status = 1
        else:
            try:
                with lab_python(lab):
                    ssh = measure("ssh", venv, str(lab.dir), work)
            finally:
                lab.down()
            report.update(
                ssh_patchwarden_seconds=round(ssh.patchwarden, 3),
                ssh_patchwarden_engine_seconds=round(ssh.engine, 3),
                ssh_ansible_seconds=round(ssh.ansible, 3),
                ssh_ratio=round(ssh.ratio, 1),
                ssh_lab_hosts=LAB_HOSTS,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return status


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--patchwarden":
        print(f"{run_patchwarden(sys.argv[2], sys.argv[3], sys.argv[4]):.6f}")
    else:
        sys.exit(main())
