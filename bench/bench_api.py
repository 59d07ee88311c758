"""The API under load: findings list and run status, 50 concurrent clients for 30 s.

A store is filled with a synthetic estate's assessment (10,000 hosts in dev/qa/staging/prod,
about 30 findings each: ~300,000 findings, as the assessment bench's fleet yields), the demo
campaign is run once on the simulated estate for a run to show, and `patchwarden serve`
(uvicorn, one process) is started on a loopback port. Then CLIENTS concurrent clients, each
with a bearer token, ask in turn for

* the first page of findings filtered by severity and environment, and
* the status of the run,

for DURATION seconds. Latencies are per request, as each client saw them. Writes
bench-results/api.json: p50 and p99 of each, requests per second, errors. Goal (issue 13):
p99 <= 100 ms and 0 errors on this 2-core machine. Usage: bench_api.py [HOSTS] [SECONDS].
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from patchwarden.service.audit import Actor
from patchwarden.service.identity import add_user, create_token
from patchwarden.store import open_store

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
DURATION = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
CLIENTS = 50
FINDINGS_PER_HOST = 30
ENVS = ("dev", "qa", "staging", "prod")
SEVERITIES = ("critical", "high", "medium", "low")
DECISIONS = ("emergency", "next_window", "defer", "ignore")
SEED = 20261203
CAMPAIGN = Path(__file__).parents[1] / "tests" / "golden" / "plans" / "demo-windows.yaml"
OUT = Path("bench-results") / "api.json"


def fill(db: str) -> tuple[str, str, int]:
    """Store the synthetic assessment, a user and token, and one demo run."""
    rnd = random.Random(SEED)
    env_of = {f"host-{i:05d}": ENVS[i % len(ENVS)] for i in range(HOSTS)}
    findings = [
        {
            "asset_id": host,
            "package": f"pkg{rnd.randrange(4000)}",
            "advisory_id": f"BENCH-{rnd.randrange(50_000)}",
            "installed": "1.0-1",
            "fixed": "1.0-2",
            "severity": rnd.choice(SEVERITIES),
            "decision": rnd.choice(DECISIONS),
            "reason": "synthetic",
        }  # fmt: skip
        for host in env_of
        for _ in range(FINDINGS_PER_HOST)
    ]
    env = {**os.environ, "PATCHWARDEN_DB": db}
    subprocess.run(
        [sys.executable, "-m", "patchwarden", "apply", str(CAMPAIGN)], env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    with open_store(db) as store:
        store.record_assessment({"env_of": env_of}, findings)
        add_user(store, "bench", "bench password 1", "viewer", (), Actor("bench", "bench"))
        token = create_token(store, "bench", "bench", None, (), None, Actor("bench", "bench"))
        run = store.latest_run()
        assert run is not None
    return token.secret, run.id, len(findings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, token: str, run_id: str) -> dict[str, list[float] | int]:
    findings: list[float] = []
    status: list[float] = []
    errors = 0
    deadline = time.perf_counter() + DURATION
    params = {"severity": "critical", "env": "prod", "per_page": 50}

    async def client(n: int) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as c:
            turn = n
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if turn % 2:
                    r = await c.get(f"/api/v1/runs/{run_id}")
                    status.append(time.perf_counter() - start)
                else:
                    r = await c.get("/api/v1/findings", params=params)
                    findings.append(time.perf_counter() - start)
                if r.status_code != 200:
                    errors += 1
                turn += 1

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return {"findings": findings, "status": status, "errors": errors}


def quantiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1)}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'api.db'}"
        started = time.perf_counter()
        token, run_id, count = fill(db)
        print(f"setup: {count} findings of {HOSTS} hosts stored in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PATCHWARDEN_DB": db}
        server = subprocess.Popen(
            [sys.executable, "-m", "patchwarden", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/api/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            measured = asyncio.run(load(url, token, run_id))
        finally:
            server.terminate()
            server.wait(timeout=15)
    findings = measured["findings"]
    status = measured["status"]
    assert isinstance(findings, list) and isinstance(status, list)
    total = len(findings) + len(status)
    out = {
        "hosts": HOSTS,
        "findings_stored": count,
        "clients": CLIENTS,
        "seconds": DURATION,
        "requests": total,
        "requests_per_second": round(total / DURATION, 1),
        "errors": measured["errors"],
        "findings_first_page": quantiles(findings),
        "run_status": quantiles(status),
        "goal": "p99 <= 100 ms, 0 errors",
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    met = out["errors"] == 0 and all(
        q["p99_ms"] <= 100
        for q in (out["findings_first_page"], out["run_status"])  # type: ignore[index]  # out holds dicts here
    )
    print("goal met" if met else "goal NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
