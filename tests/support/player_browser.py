"""Drive the report's multitrack player (flows/report/player.js) in headless Chromium over the DevTools protocol.

Used by tests/flows/report/test_player.py, and runnable on its own to screenshot the player of a real report:

    .venv/bin/python tests/support/player_browser.py renders/demo-groove/report.html /tmp/player.png

Chromium runs WITHOUT ``--allow-file-access-from-files``: the player must work from a plain ``file://`` page, as
a user's browser opens it. ``--mute-audio`` stays: measured, the AnalyserNode still sees the signal with it (a
0.5 sine read RMS 0.3533 muted and 0.3535 not), so the tests hear what the player plays without a sound card.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests.support` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.report_browser import (  # noqa: E402
    CHROMIUM_FLAGS,
    DevTools,
    _errors,
    _start,
    _stop,
    find_chromium,
)

PLAYER_FLAGS = tuple(flag for flag in CHROMIUM_FLAGS if flag != "--allow-file-access-from-files")
# Key events as Chromium's Input domain wants them: key, code and the Windows virtual key code.
KEYS = {" ": ("Space", 32), "m": ("KeyM", 77), "s": ("KeyS", 83)}
READY_TIMEOUT = 120.0  # s for every bundle of a real render to load and decode (8 stems x 300 s: ~40 MB)


class PlayerPage:
    """One page with the player, open in its own headless Chromium; use as a context manager."""

    def __init__(self, html: Path, width: int = 1280, timeout: float = 30.0) -> None:
        chromium = find_chromium()
        if chromium is None:
            raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
        self.chromium, self.html, self.width, self.timeout = chromium, html, width, timeout
        self.stack = ExitStack()
        self.tools: DevTools | None = None

    def __enter__(self) -> PlayerPage:
        try:
            profile = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="mm-player-")))
            proc, ws_url = _start(self.chromium, profile, self.timeout, PLAYER_FLAGS)
            self.stack.callback(_stop, proc)
            self.tools = DevTools(ws_url, self.timeout)
            self.stack.callback(self.tools.close)
            for domain in ("Page", "Runtime", "Log"):
                self.tools.call(f"{domain}.enable")
            self.tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": self.width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            )
            self.open(self.html)
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stack.close()

    @property
    def devtools(self) -> DevTools:
        assert self.tools is not None, "use PlayerPage as a context manager"
        return self.tools

    def open(self, html: Path) -> None:
        """Load ``html`` afresh (a new player, a new AudioContext) and forget the earlier page's events."""
        self.devtools.events.clear()
        self.devtools.call("Page.navigate", {"url": html.resolve().as_uri()})
        self.devtools.wait_event("Page.loadEventFired", timeout=self.timeout)

    def js(self, expression: str, timeout: float | None = None) -> Any:
        """The value of a JS expression (awaited when it is a promise)."""
        return self.devtools.evaluate(expression, timeout=timeout)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        self.js("window.musicmakerPlayer.ready.then(() => true)", timeout=timeout)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen since the page was opened."""
        self.devtools.call("Runtime.evaluate", {"expression": "0"})  # drain late events
        return _errors(self.devtools.events)

    def press(self, key: str) -> None:
        """Press and release ``key`` (" ", "m" or "s") as a keyboard would, on whatever has the focus."""
        code, virtual = KEYS[key]
        event = {"key": key, "code": code, "windowsVirtualKeyCode": virtual}
        self.devtools.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": key, **event})
        self.devtools.call("Input.dispatchKeyEvent", {"type": "keyUp", **event})

    def click(self, selector: str, fraction: float = 0.5) -> None:
        """Click ``selector``'s element with the mouse, ``fraction`` of the way across it, half way down."""
        box = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()"
        )
        x, y = box[0] + fraction * box[2], box[1] + box[3] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.devtools.call(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )

    def screenshot(self, path: Path, selector: str = "#mm-player", margin: int = 12) -> Path:
        """Save a PNG of ``selector``'s element and ``margin`` pixels around it."""
        box = self.js(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()"
        )
        clip = {
            "x": max(0.0, box[0] - margin),
            "y": max(0.0, box[1] - margin),
            "width": box[2] + 2 * margin,
            "height": box[3] + 2 * margin,
            "scale": 1,
        }
        shot = self.devtools.call(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            timeout=60.0,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: player_browser.py REPORT.html SCREENSHOT.png", file=sys.stderr)
        return 2
    with PlayerPage(Path(argv[0])) as page:
        page.wait_ready()
        # Play a moment from a third of the way in, so the picture shows the playhead over the lanes.
        page.js("(() => { const p = window.musicmakerPlayer; p.seek(p.duration / 3 || 0); })()")
        page.js("window.musicmakerPlayer.play()")
        page.js("new Promise((r) => setTimeout(r, 300))")
        page.js("window.musicmakerPlayer.pause()")
        shot = page.screenshot(Path(argv[1]))
        report = {
            "errors": page.errors(),
            "stems": page.js("window.musicmakerPlayer.stems"),
            "missing": page.js("window.musicmakerPlayer.missing()"),
            "screenshot": str(shot),
        }
    print(json.dumps(report, indent=2))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
