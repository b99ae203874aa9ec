"""Stopping a render (issue 11): Ctrl-C and SIGTERM end it within 10 s with 130 / 143, no child process (the
embedded Prefect API server above all) outlives it even after SIGKILL, and the next render reuses what finished.

Real processes: the CLI in a session of its own with its own Prefect home, stopped while it generates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
STOP_WITHIN = 10.0  # seconds, from the signal to the exit (issue 11)

# Two generation levels (bass follows keys): once keys is generated, bass is being generated.
SONG = """title: Signal Song
bpm: 120
key: A minor
duration: 12
seed: 7
model: debug
separation_model: debug
stems:
  - {name: keys, prompt: rhodes chords, midi: keys}
  - {name: bass, prompt: warm bass, model: debug-melody, follow: keys, separate: bass, midi: bass}
master: {formats: [wav]}
"""


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Prefect home for the module: its database is migrated once, and shared with nothing else."""
    return tmp_path_factory.mktemp("prefect-home")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)  # the embedded API server is the point
    return env


def _alive(pid: int, cmdline: bytes) -> bool:
    """Whether ``pid`` still runs ``cmdline`` (a zombie or a reused pid does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        return state != b"Z" and Path(f"/proc/{pid}/cmdline").read_bytes() == cmdline
    except OSError:
        return False


def _parent(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _children(parent: int) -> dict[int, bytes]:
    """The children of ``parent`` and their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(entry) == parent:
            with suppress(OSError):
                found[int(entry.name)] = (entry / "cmdline").read_bytes()
    return found


class Render:
    """``musicmaker render`` of SONG in a session of its own, with its stderr in a file."""

    def __init__(self, tmp_path: Path, home: Path) -> None:
        song = tmp_path / "song.yaml"
        song.write_text(SONG)
        out = tmp_path / "out"
        self.folder = out / "signal-song"
        self.cmd = [str(BIN / "musicmaker"), "render", str(song), "-o", str(out), "--force", "--quiet"]
        self.env = _env(home)
        self.stderr = tmp_path / "stderr.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.children: dict[int, bytes] = {}

    def start_and_wait_for_generation(self) -> subprocess.Popen[bytes]:
        """Start the render; return once the first stem is generated (the next one is then generating)."""
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        deadline = time.time() + 240
        while not (self.folder / ".musicmaker" / "stages" / "generate.keys.json").exists():  # after keys.wav
            assert self.proc.poll() is None, self.stderr.read_text()
            assert time.time() < deadline, "the render did not get as far as a generated stem"
            time.sleep(0.1)
        self.children = _children(self.proc.pid)
        assert any(b"uvicorn" in cmd for cmd in self.children.values()), "no embedded Prefect server"
        return self.proc

    def stop(self, send: str, sig: signal.Signals) -> tuple[int | None, float]:
        """Send ``sig`` to the render (``pid``) or to its process group (``group``, as Ctrl-C in a terminal does);
        return its exit code (None if it still runs after STOP_WITHIN s) and the seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        (os.killpg if send == "group" else os.kill)(self.proc.pid, sig)
        try:
            code: int | None = self.proc.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def survivors(self, wait: float = 10.0) -> list[str]:
        """Children of the stopped render still running ``wait`` s later."""
        deadline = time.time() + wait
        while (left := [c for p, c in self.children.items() if _alive(p, c)]) and time.time() < deadline:
            time.sleep(0.2)
        return [c.replace(b"\0", b" ").decode() for c in left]

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid, cmdline in self.children.items():
            if _alive(pid, cmdline):
                os.kill(pid, signal.SIGKILL)

    def rerun(self) -> dict:
        """Render again with --force to the end; return the manifest."""
        done = subprocess.run(self.cmd, env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return dict(json.loads((self.folder / "manifest.json").read_text()))


@pytest.fixture
def render(tmp_path: Path, prefect_home: Path) -> Iterator[Render]:
    job = Render(tmp_path, prefect_home)
    try:
        yield job
    finally:
        job.cleanup()


@pytest.mark.parametrize(
    ("send", "sig", "code"),
    [("group", signal.SIGINT, 130), ("pid", signal.SIGTERM, 143), ("pid", signal.SIGKILL, -9)],
    ids=["ctrl-c", "sigterm", "sigkill"],
)
def test_a_stopped_render_ends_with_its_children_and_resumes(
    render: Render, send: str, sig: signal.Signals, code: int
) -> None:
    render.start_and_wait_for_generation()
    exit_code, seconds = render.stop(send, sig)
    assert exit_code == code, f"exit {exit_code} after {seconds:.1f} s (None: still running)"
    assert seconds < STOP_WITHIN
    if sig != signal.SIGKILL:
        assert "interrupted" in render.stderr.read_text().splitlines()[-1]
    assert render.survivors() == [], "a child process outlived the render"
    manifest = render.rerun()
    assert "keys" in manifest["reused"]["generate"], manifest["reused"]
    assert not [p for p in render.folder.rglob("*") if ".part" in p.name], "partial files left behind"
