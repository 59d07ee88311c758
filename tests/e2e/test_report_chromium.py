"""The demo's report opened in a real browser: headless Chromium (Debian ``chromium``).

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: fd 3
in, fd 4 out, NUL-terminated JSON), so no port and no websocket library are needed. The
test fails on any console error, uncaught exception or error-level log entry, and on any
chart that is missing, empty or drawn at zero size.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from patchwarden.service.demo import run_demo

CHARTS = (
    "compliance-by-env",
    "findings-by-severity",
    "sla-burndown",
    "riskiest-assets",
    "decisions",
    "sla-due",
    "patch-states",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
)
# What the page reports about itself once loaded: every chart figure, its SVG and drawn size.
PROBE = """JSON.stringify({
  charts: Array.from(document.querySelectorAll("figure.chart")).map(f => {
    const svg = f.querySelector("svg");
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {name: f.dataset.chart, svg: !!svg, width: box.width, height: box.height,
            marks: svg ? svg.querySelectorAll("rect, path, circle").length : 0,
            nodata: svg ? svg.textContent.includes("No data") : true};
  }),
  assets: document.querySelectorAll("details.asset").length,
  toolbar: !document.querySelector(".toolbar").hidden,
  opened: (document.getElementById("expand-all").click(),
           document.querySelectorAll("details.asset[open]").length),
  external: Array.from(document.querySelectorAll("[src],link[href]")).map(e => e.src || e.href),
})"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Debian package `chromium` not installed (scripts/lab-deps installs it)")
    return found


@dataclass
class Page:
    """A page in headless Chromium, and what it said while loading."""

    proc: subprocess.Popen[bytes]
    to_browser: int
    from_browser: int
    session: str = ""
    errors: list[str] = field(default_factory=list)
    _buffer: bytes = b""
    _next: int = 0

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> int:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self._next

    def _messages(self, deadline: float) -> Iterator[dict[str, Any]]:
        selector = selectors.DefaultSelector()
        selector.register(self.from_browser, selectors.EVENT_READ)
        try:
            while True:
                while b"\0" in self._buffer:
                    raw, self._buffer = self._buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    self._note(message)
                    yield message
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError("Chromium did not answer in time")
                chunk = os.read(self.from_browser, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit {self.proc.poll()})")
                self._buffer += chunk
        finally:
            selector.close()

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"log: {params['entry']['text']}")

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> dict[str, Any]:
        ident = self.send(method, params, session=session)
        for message in self._messages(time.monotonic() + 30):
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
        raise AssertionError("unreachable")

    def wait_for(self, event: str) -> None:
        for message in self._messages(time.monotonic() + 30):
            if message.get("method") == event:
                return

    def open(self, url: str) -> dict[str, Any]:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(domain)
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        result = self.call("Runtime.evaluate", {"expression": PROBE, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"probe failed: {result['exceptionDetails']}")
        return dict(json.loads(result["result"]["value"]))


@contextmanager
def chromium(tmp: Path) -> Iterator[Page]:
    """Start headless Chromium with a DevTools pipe; stop it afterwards."""
    binary = _chromium()
    to_read, to_write = os.pipe()  # we write, Chromium reads on fd 3
    from_read, from_write = os.pipe()  # Chromium writes on fd 4, we read

    def wire() -> None:  # runs in the child: put the pipe ends on fds 3 and 4
        os.dup2(to_read, 3)
        os.dup2(from_write, 4)

    proc = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"],
        preexec_fn=wire,  # noqa: PLW1509 - the test is single-threaded
        pass_fds=(3, 4),  # kept open after wire() put the pipes there
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_read)
    os.close(from_write)
    page = Page(proc, to_write, from_read)
    try:
        yield page
    finally:
        try:
            page.send("Browser.close", session=False)
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        os.close(to_write)
        os.close(from_read)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out / "report", f"sqlite:///{out / 'demo.db'}", seed=7)
    return result.report["html"]


@pytest.mark.timeout(180)
def test_demo_report_renders_in_chromium_without_errors(demo_report: Path, tmp_path: Path) -> None:
    with chromium(tmp_path) as page:
        facts = page.open(demo_report.as_uri())
    assert page.errors == []
    charts = {c["name"]: c for c in facts["charts"]}
    assert tuple(charts) == CHARTS, "a chart is missing or out of order"
    for name, chart in charts.items():
        assert chart["svg"], f"{name}: no <svg>"
        assert chart["width"] > 100 and chart["height"] > 50, f"{name}: drawn at {chart}"
        assert chart["marks"] > 0 and not chart["nodata"], f"{name}: nothing drawn"
    assert facts["assets"] >= 60
    assert facts["toolbar"] and facts["opened"] == facts["assets"]  # the page script ran
    assert facts["external"] == []  # self-contained: nothing to fetch


@pytest.mark.timeout(120)
def test_the_harness_catches_console_errors_and_missing_charts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!doctype html><html><body><p class='toolbar' hidden></p>"
        "<button id='expand-all'></button>"
        "<figure class='chart' data-chart='decisions'></figure>"
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    with chromium(tmp_path) as page:
        facts = page.open(broken.as_uri())
    assert "console.error: boom" in page.errors
    assert any(e.startswith("uncaught: ReferenceError") for e in page.errors)
    assert facts["charts"] == [
        {"name": "decisions", "svg": False, "width": 0, "height": 0, "marks": 0, "nodata": True}
    ]
