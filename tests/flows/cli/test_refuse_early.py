"""Refusals that need no Prefect come before Prefect (issue 22): a render into a folder another render holds, or
into a finished render without --force, and an album schedule with nothing that could run it, exit 2 at once,
without importing Prefect or starting its API server (which took 9-16 s, and ended with Prefect's
"EventsWorker: Still processing items")."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.cli import main
from flows.pipeline import ALBUM_MANIFEST, TRACK_MANIFEST, render_lock
from tests.support.album_fixtures import write_album

SONG = """title: Early Song
bpm: 120
key: A minor
duration: 6
seed: 3
model: debug
stems:
  - {name: keys, prompt: rhodes chords}
"""

# Runs the CLI, then says whether Prefect was imported and which child processes it left running.
PROBE = """import os, sys
from flows.cli import main
code = main(sys.argv[1:])
def parent(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
    except OSError:
        return None
children = [p for p in os.listdir("/proc") if p.isdigit() and parent(p) == str(os.getpid())]
print("PROBE", "prefect" in sys.modules, len(children))
sys.exit(code)
"""


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    imported_prefect: bool
    children: int


def _cli(argv: list[str], home: Path, timeout: float = 120, **env: str) -> Run:
    """The CLI in a process of its own, without PREFECT_API_URL unless given, with its own Prefect home."""
    environ = {**os.environ, "PREFECT_HOME": str(home), **env}
    if "PREFECT_API_URL" not in env:
        environ.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], env=environ, capture_output=True, text=True, timeout=timeout
    )
    probe = [line.split() for line in done.stdout.splitlines() if line.startswith("PROBE")]
    assert probe, done.stdout + done.stderr
    return Run(done.returncode, done.stderr, probe[-1][1] == "True", int(probe[-1][2]))


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.yaml"
    path.write_text(SONG)
    return path


def test_a_render_into_a_finished_render_is_refused_before_prefect(song: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out" / "early-song"
    folder.mkdir(parents=True)
    (folder / TRACK_MANIFEST).write_text("{}")
    run = _cli(["render", str(song), "-o", str(tmp_path / "out")], tmp_path / "home")
    assert (run.code, run.imported_prefect) == (2, False), run.stderr
    assert f"{folder} already holds a finished render ({TRACK_MANIFEST}); pass --force" in run.stderr
    assert "EventsWorker" not in run.stderr and (folder / TRACK_MANIFEST).read_text() == "{}"


def test_a_render_into_a_folder_being_rendered_is_refused_before_prefect(song: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out" / "early-song"
    with render_lock(folder):  # as a render running in another process holds it
        run = _cli(["render", str(song), "-o", str(tmp_path / "out"), "--force"], tmp_path / "home")
    assert (run.code, run.imported_prefect) == (2, False), run.stderr
    assert f"{folder} is being rendered right now by pid {os.getpid()}" in run.stderr
    assert "EventsWorker" not in run.stderr


def test_a_render_into_an_album_being_rendered_is_refused_before_prefect(song: Path, tmp_path: Path) -> None:
    """The track folder is free, but the album render of the output folder runs (issue 17's rule)."""
    out = tmp_path / "out"
    (out / ".musicmaker").mkdir(parents=True)
    (out / ".musicmaker" / "album-run").write_text("abc123")
    with render_lock(out):
        run = _cli(["render", str(song), "-o", str(out)], tmp_path / "home")
    assert (run.code, run.imported_prefect) == (2, False), run.stderr
    assert f"{out} is being rendered right now" in run.stderr


def test_an_album_render_into_a_finished_album_is_refused_before_prefect(tmp_path: Path) -> None:
    album = write_album(tmp_path / "src", title="Early Album")
    folder = tmp_path / "out" / "early-album"
    folder.mkdir(parents=True)
    (folder / ALBUM_MANIFEST).write_text("{}")
    run = _cli(["album", "render", str(album), "-o", str(tmp_path / "out")], tmp_path / "home")
    assert (run.code, run.imported_prefect) == (2, False), run.stderr
    assert f"{folder} already holds a finished album render ({ALBUM_MANIFEST}); pass --force" in run.stderr


@pytest.mark.parametrize("locked", ["early-album", "early-album/two"], ids=["album", "track"])
def test_an_album_render_into_a_folder_being_rendered_is_refused_before_prefect(
    locked: str, tmp_path: Path
) -> None:
    album = write_album(tmp_path / "src", title="Early Album")
    out = tmp_path / "out"
    with render_lock(out / locked):
        run = _cli(["album", "render", str(album), "-o", str(out), "--force"], tmp_path / "home")
    assert (run.code, run.imported_prefect) == (2, False), run.stderr
    assert f"{out / locked} is being rendered right now" in run.stderr


def test_album_schedule_without_a_prefect_server_is_refused_and_says_how_to_start_one(tmp_path: Path) -> None:
    """Prefect's embedded API lives and dies with the command, so nothing would ever run the schedule."""
    album = write_album(tmp_path / "src", title="Early Album")
    argv = ["album", "schedule", str(album), "--cron", "0 3 * * *", "-o", str(tmp_path / "out")]
    run = _cli(argv, tmp_path / "home", timeout=60)  # it used to serve forever
    assert (run.code, run.children) == (2, 0), run.stderr
    assert "prefect server start" in run.stderr and "PREFECT_API_URL=http://127.0.0.1:4200/api" in run.stderr
    assert "Traceback" not in run.stderr and "EventsWorker" not in run.stderr


@pytest.mark.slow
def test_album_schedule_to_a_pool_that_does_not_exist_is_refused(
    prefect_harness: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any deployment is made; Prefect's own error was a ValueError and a traceback (exit 1)."""
    from prefect.client.orchestration import get_client

    album = write_album(tmp_path / "src", title="Early Album")
    argv = ["album", "schedule", str(album), "--cron", "0 3 * * *", "--pool", "no-such-pool"]
    assert main([*argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "'no-such-pool'" in err and "prefect work-pool create no-such-pool --type process" in err, err
    assert "Traceback" not in err
    with get_client(sync_client=True) as client:
        assert not [d for d in client.read_deployments() if d.name.startswith("early-album")]


def test_album_schedule_with_an_unreachable_prefect_server_is_refused(tmp_path: Path) -> None:
    album = write_album(tmp_path / "src", title="Early Album")
    argv = ["album", "schedule", str(album), "--cron", "0 3 * * *", "--pool", "gpus"]
    run = _cli(argv, tmp_path / "home", timeout=60, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert (run.code, run.children) == (2, 0), run.stderr
    assert "http://127.0.0.1:9/api" in run.stderr and "prefect server start" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
