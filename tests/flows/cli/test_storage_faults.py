"""Storage faults are user errors (exit 2, what to free or change) and lose nothing: a real full disk (a small
tmpfs), a real read-only folder (a read-only bind mount), and output paths that name a file, a folder or a device.

Mounting needs root and a kernel that lets this process mount; where it cannot, those tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.cli import main

SONG = """title: Full Disk
bpm: 120
key: C major
duration: 5
model: debug
separation_model: debug
stems:
  - {name: keys, prompt: keys, midi: false}
  - {name: bass, prompt: bass, separate: bass, midi: bass}
master: {formats: [wav, mp3]}
"""


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}: {done.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: room for a few stems, not for a whole render."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder))
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write to, root included: a read-only bind mount."""
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    source, folder = tmp_path / "source", tmp_path / "ro"
    source.mkdir()
    folder.mkdir()
    _mount("--bind", str(source), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _wav(path: Path, seconds: float = 2.0, channels: int = 2) -> Path:
    t = np.arange(int(seconds * 48000)) / 48000
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([tone] * channels, axis=1), 48000, subtype="PCM_24")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out, err
    return code, err


def _leftovers(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if ".part" in p.name]


def test_master_into_a_full_disk(
    tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _wav(tmp_path / "long.wav", seconds=20)  # 20 s of float stereo at 48 kHz: 7.7 MB
    code, err = _run(capsys, "master", str(source), "-o", str(small_disk / "out.wav"))
    assert code == 2 and "No space left on device" in err and "free some space" in err, err
    assert list(small_disk.iterdir()) == []  # no half-written file, no temp file


def test_master_into_a_read_only_folder(
    tmp_path: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "master", str(_wav(tmp_path / "a.wav")), "-o", str(read_only / "out.wav"))
    assert code == 2 and "Read-only file system" in err and "writable folder" in err, err


def test_render_into_a_read_only_folder_stops_before_any_work(
    tmp_path: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    code, err = _run(capsys, "render", str(song), "-o", str(read_only / "renders"))
    assert code == 2 and "Read-only file system" in err, err


@pytest.mark.parametrize("kind", ["folder", "fifo", "dev-null"])
def test_master_output_that_is_not_a_file(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _wav(tmp_path / "a.wav")
    target = {"folder": tmp_path / "out.wav", "fifo": tmp_path / "pipe.wav", "dev-null": Path(os.devnull)}[
        kind
    ]
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    code, err = _run(capsys, "master", str(source), "-o", str(target))
    assert code == 2 and f"{target}: cannot write there" in err, err
    assert _leftovers(tmp_path) == [] and not any(
        p.name.startswith(".") for p in Path("/").iterdir() if ".part" in p.name
    )
    if kind == "dev-null":
        assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # still the device, not a file put in its place


def test_master_output_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _wav(tmp_path / "a.wav")
    code, err = _run(capsys, "master", str(source), "-o", str(source / "out.wav"))
    assert code == 2 and "a file stands where a folder is needed" in err, err


@pytest.mark.parametrize("command", ["render", "album"])
def test_output_folder_that_is_a_file(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    album = tmp_path / "album.yaml"
    album.write_text("title: A\ntracks: [song.yaml]\n")
    taken = tmp_path / "taken"
    taken.write_text("a file")
    argv = ["render", str(song)] if command == "render" else ["album", "render", str(album)]
    code, err = _run(capsys, *argv, "-o", str(taken))
    assert code == 2 and f"{taken}: is a file, not a folder" in err, err
    code, err = _run(capsys, *argv, "-o", os.devnull)
    assert code == 2 and os.devnull in err, err


def test_render_into_a_full_disk_resumes_once_space_is_freed(
    prefect_harness: None, tmp_path: Path, small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song = tmp_path / "song.yaml"
    song.write_text(SONG)
    code, err = _run(capsys, "render", str(song), "-o", str(small_disk), "--quiet")
    assert code == 2 and "No space left on device" in err and "free some space" in err, err
    folder = small_disk / "full-disk"
    assert not (folder / "manifest.json").exists()
    finished = sorted(p.name for p in (folder / ".musicmaker" / "stages").iterdir())
    assert finished  # some stages were done before the disk filled up
    _mount("-o", "remount,size=64m", str(small_disk))  # the user frees space
    code, err = _run(capsys, "render", str(song), "-o", str(small_disk), "--quiet")
    assert code == 0, err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["reused"]["generate"], manifest["reused"]  # what finished before was not redone
    assert _leftovers(folder) == []
