"""Drive headless Chromium over the Chrome DevTools Protocol to check a report page like a person would.

Used by tests/flows/report/test_report.py and runnable on its own to screenshot a real render:

    .venv/bin/python tests/support/report_browser.py renders/demo-groove/report.html /tmp/demo-report.png

Protocol: https://chromedevtools.github.io/devtools-protocol/ (Target, Page, Runtime, Log, Emulation domains).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--remote-debugging-port=0",
    "--allow-file-access-from-files",
)

# Plays every <audio> from 0 and resolves with its outcome: 'ended', 'error: ...' or 'timeout'.
PLAY_ALL_JS = """
(async (timeoutMs, rate) => {
  const play = (a) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve({src: a.getAttribute('src'), result: 'timeout'}), timeoutMs);
    const done = (result) => { clearTimeout(timer); resolve({src: a.getAttribute('src'), result,
                                                             duration: a.duration, time: a.currentTime}); };
    a.addEventListener('ended', () => done('ended'), {once: true});
    const why = () => (a.error ? a.error.code + ' ' + a.error.message : '?');
    a.addEventListener('error', () => done('error: ' + why()),
                       {once: true});
    a.muted = true; a.currentTime = 0; a.playbackRate = rate;
    a.play().catch((e) => done('error: play() ' + e));
  });
  return JSON.stringify(await Promise.all([...document.querySelectorAll('audio')].map(play)));
})
"""
IMAGES_JS = """
JSON.stringify([...document.images].map(i => ({src: i.getAttribute('src'), complete: i.complete,
                                                  width: i.naturalWidth, height: i.naturalHeight})))
"""


def find_chromium() -> str | None:
    return next((p for name in CHROMIUM_NAMES if (p := shutil.which(name))), None)


@dataclass
class PageCheck:
    """What the browser saw: console/exception/log errors, audio outcomes, image sizes, screenshot path."""

    errors: list[str] = field(default_factory=list)
    audio: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    screenshot: Path | None = None


class DevTools:
    """One page target of a running Chromium, attached with a flat session over the browser websocket."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        from websockets.sync.client import connect

        self.timeout = timeout
        self.ws = connect(ws_url, max_size=None, open_timeout=timeout)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Send a command and wait for its reply, keeping every event that arrives meanwhile."""
        ident = next(self.ids)
        message = {"id": ident, "method": method, "params": params or {}}
        if getattr(self, "session", None):
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            event = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            self.events.append(event)

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors (failed loads appear as Log entries)."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append(
                f"exception: {details.get('exception', {}).get('description') or details.get('text')}"
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            found.append(f"log: {entry.get('text')} {entry.get('url', '')}")
    return found


def _start(
    chromium: str, profile: Path, timeout: float, flags: Sequence[str] = CHROMIUM_FLAGS
) -> tuple[subprocess.Popen[bytes], str]:
    """Start Chromium with ``flags`` and return it with its browser websocket URL.

    Chromium writes the port it picked and the browser target's path to ``DevToolsActivePort`` in its
    profile folder; polling that file needs no pipe (a full stderr pipe would block the browser).
    """
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [chromium, *flags, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        lines = active.read_text().split() if active.is_file() else []
        if len(lines) == 2:
            return proc, f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    _stop(proc)
    tail = (profile / "chromium.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(
        f"chromium did not open its DevTools endpoint within {timeout} s; its log ends:\n{tail}"
    )


def check_page(
    html: Path, screenshot: Path, play_timeout: float = 30.0, width: int = 1280, rate: float = 1.0
) -> PageCheck:
    """Load ``html``, play every audio to its end, measure every image, save a full-page screenshot.

    All players play at once, at ``rate`` times real time (Chromium allows up to 16); each must end within
    ``play_timeout`` seconds.
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="mm-chromium-") as profile:
        proc, ws_url = _start(chromium, Path(profile), timeout=30.0)
        try:
            tools = DevTools(ws_url, timeout=30.0)
            try:
                return _inspect(tools, html, screenshot, (play_timeout, rate), width)
            finally:
                tools.close()
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End Chromium and every helper process it started (they write into the profile until they exit)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.05)
        if not _group_alive(proc.pid):
            break
    proc.wait()


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process of the group is left; zombies write nothing."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def _inspect(
    tools: DevTools, html: Path, screenshot: Path, play: tuple[float, float], width: int
) -> PageCheck:
    for domain in ("Page", "Runtime", "Log"):
        tools.call(f"{domain}.enable")
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    tools.call("Emulation.setScrollbarsHidden", {"hidden": True})  # screenshot exactly `width` wide
    tools.call("Page.navigate", {"url": html.resolve().as_uri()})
    tools.wait_event("Page.loadEventFired", timeout=30.0)
    check = PageCheck()
    check.images = json.loads(tools.evaluate(IMAGES_JS))
    play_js = f"{PLAY_ALL_JS}({int(play[0] * 1000)}, {play[1]})"
    check.audio = json.loads(tools.evaluate(play_js, timeout=play[0] + 10))
    height = tools.evaluate("document.documentElement.scrollHeight")
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
    )
    shot = tools.call(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, timeout=60.0
    )
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    check.screenshot = screenshot
    tools.call("Runtime.evaluate", {"expression": "0"})  # drain late events
    check.errors = _errors(tools.events)
    return check


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: report_browser.py REPORT.html SCREENSHOT.png", file=sys.stderr)
        return 2
    result = check_page(Path(argv[0]), Path(argv[1]), play_timeout=120.0, rate=4.0)  # renders are long
    print(
        json.dumps(
            {
                "errors": result.errors,
                "audio": result.audio,
                "images": len(result.images),
                "screenshot": str(result.screenshot),
            },
            indent=2,
        )
    )
    return 0 if not result.errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
