"""A load generator: keep-alive HTTP clients sending requests without pause, counting failures.

It runs as its own process (``python -m patchwarden.testing.traffic_load HOST PORT
CONCURRENCY OUT``) so its work does not slow the engine it measures: ``CONCURRENCY``
asyncio clients each keep one connection and send ``GET /`` after ``GET /``. A request
fails when it gets a 5xx, no answer, or a broken connection; every one is counted. With
``RETRIES`` (a fifth argument), a failed GET is sent again on a new connection that many
times, as a client of an idempotent request would: ``retried`` counts the failures a retry
absorbed, ``failed`` those that remained (so ``failed + retried`` is the raw count). On
SIGTERM it writes a :class:`LoadReport` to ``OUT`` as JSON and exits.

Example (as the test helpers use it)::

    load = LoadProcess("127.0.2.1", 8000, concurrency=24)
    load.start()            # returns once the first answer came back
    ...                     # the rollout
    report = load.stop()
    print(report.requests, report.failed, report.p99_ms())
"""

from __future__ import annotations

import asyncio
import json
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LoadProcess", "LoadReport", "generate_load", "main"]


@dataclass
class LoadReport:
    """What the clients saw: every request's latency, and each failure's time and cause."""

    requests: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    retried: int = 0
    """Failed attempts that a retry then answered (not in ``failed``)."""

    def p99_ms(self) -> float:
        """99th percentile latency of all requests (nearest rank)."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1)

    def bench_row(self, rollout_seconds: float, rolled_back: bool | None) -> dict[str, Any]:
        """The bench's row: requests, failed, p99 latency (ms), rollout seconds.

        ``rolled_back`` is reported where it means something (a canary), else left out.
        """
        row: dict[str, Any] = {
            "requests": self.requests,
            "failed": self.failed,
            "p99_ms": self.p99_ms(),
            "seconds": round(rollout_seconds, 1),
        }
        if rolled_back is not None:
            row["rolled_back"] = rolled_back
        return row

    def causes(self) -> dict[str, int]:
        """How many failures of each cause (``HTTP 503``, ``ConnectionResetError``, ...)."""
        out: dict[str, int] = {}
        for _, cause in self.failures:
            out[cause] = out.get(cause, 0) + 1
        return out

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LoadReport:
        """Read what :func:`dataclasses.asdict` wrote."""
        report = cls(**data)  # type: ignore[arg-type]  # JSON of asdict(): the same fields
        report.failures = [(float(t), str(c)) for t, c in report.failures]
        return report


async def _client(host: str, port: int, report: LoadReport, stop: asyncio.Event, t0: float,
                  ready: asyncio.Event, timeout_s: float, retries: int = 0) -> None:  # fmt: skip
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pw-load\r\n\r\n".encode()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    attempt = 0
    while not stop.is_set():
        start = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, close = _head(head)
                await reader.readexactly(length)
            cause = f"HTTP {status}" if status >= 500 else ""
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            cause, close = type(error).__name__, True
        if cause and attempt < retries:  # sent again on a new connection, as a client would
            attempt += 1
            report.retried += 1
            if writer is not None:
                writer.close()
                reader = writer = None
            continue
        attempt = 0
        report.requests += 1
        report.latencies_ms.append(round((time.monotonic() - start) * 1000, 2))
        if cause:
            report.failed += 1
            report.failures.append((round(start - t0, 3), cause))
        else:
            ready.set()
        if close and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def _head(head: bytes) -> tuple[int, int, bool]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return (
        status,
        int(headers.get("content-length", "0")),
        headers.get("connection", "").lower() == "close",
    )


async def generate_load(
    host: str,
    port: int,
    concurrency: int,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    timeout_s: float = 10.0,
    retries: int = 0,
) -> LoadReport:
    """Send requests from ``concurrency`` clients until ``stop`` is set."""
    report = LoadReport()
    t0 = time.monotonic()
    first = ready or asyncio.Event()
    await asyncio.gather(
        *(
            _client(host, port, report, stop, t0, first, timeout_s, retries)
            for _ in range(concurrency)
        )
    )
    report.seconds = round(time.monotonic() - t0, 3)
    return report


async def _main(host: str, port: int, concurrency: int, out: Path, retries: int) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def announce() -> None:
        await ready.wait()
        print("ready", flush=True)

    announcer = asyncio.create_task(announce())
    report = await generate_load(host, port, concurrency, stop, ready, retries=retries)
    announcer.cancel()
    out.write_text(json.dumps(asdict(report)))


def main(argv: list[str] | None = None) -> int:
    """``HOST PORT CONCURRENCY OUT [RETRIES]``: send load until SIGTERM, write the report."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (4, 5):
        print(
            "usage: python -m patchwarden.testing.traffic_load HOST PORT N OUT [RETRIES]",
            file=sys.stderr,
        )
        return 2
    retries = int(args[4]) if len(args) == 5 else 0
    asyncio.run(_main(args[0], int(args[1]), int(args[2]), Path(args[3]), retries))
    return 0


class LoadProcess:
    """The load generator as a child process: :meth:`start`, the rollout, :meth:`stop`."""

    def __init__(self, host: str, port: int, concurrency: int = 24, retries: int = 0) -> None:
        self.host = host
        self.port = port
        self.concurrency = concurrency
        self.retries = retries
        self._out = Path(tempfile.mkdtemp(prefix="pw-load-")) / "report.json"
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the clients; returns once one request got a good answer."""
        argv = [sys.executable, "-m", "patchwarden.testing.traffic_load", self.host,
                str(self.port), str(self.concurrency), str(self._out),
                str(self.retries)]  # fmt: skip
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        # The child says "ready" after its first good answer; never block past the deadline.
        readable, _, _ = select.select([self._process.stdout], [], [], timeout_s)
        line = self._process.stdout.readline().strip() if readable else ""
        if line != "ready":
            # It may not even have installed its SIGTERM handler yet: kill it, there is no report.
            self._process.kill()
            self._process.communicate(timeout=30)
            self._process = None
            raise RuntimeError(
                f"load generator got no good answer from {self.host}:{self.port} "
                f"within {timeout_s:.0f} s"
            )

    def stop(self) -> LoadReport:
        """Stop the clients and return what they saw."""
        if self._process is None:
            raise RuntimeError("the load generator is not running")
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(30)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None
        report = LoadReport.from_json(json.loads(self._out.read_text()))
        self._out.unlink()
        self._out.parent.rmdir()
        return report


if __name__ == "__main__":
    sys.exit(main())
