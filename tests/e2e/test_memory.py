"""Peak memory of the file commands on a 20-minute stereo 44.1 kHz file (issue 22: ``analyze`` took 4.2 GB,
``conform`` 4.7 GB, ``master`` 2.0 GB, ``transcribe --instrument drums`` 5.7 GB; a 2.9-hour file failed).

Each command runs in its own process under a small measuring one (:data:`MEASURE`), whose children's peak
resident set is the command's (and that of the children it waited for, Rubber Band for ``conform``). One
generated file serves every command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow

RATE = 44_100
MINUTES = 20
BOUND_MB = 1500  # the goal for a 20-minute stereo file, every command


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 minutes of 16-bit stereo at 120 bpm: a kick and a bass note a beat (A D E A), a held A major
    chord, a little noise."""
    path = tmp_path_factory.mktemp("memory") / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", RATE, 2, "PCM_16") as f:
        for start in range(0, MINUTES * 60 * RATE, 8 * RATE):
            t = (start + np.arange(8 * RATE)) / RATE
            phase, beat = np.mod(t, 0.5), (t // 0.5).astype(int)
            kick = np.sin(2 * np.pi * 55 * phase) * np.exp(-25 * phase)
            bass = 0.3 * np.sin(2 * np.pi * np.array([110.0, 146.83, 164.81, 110.0])[beat % 4] * t)
            bass *= np.exp(-12 * phase)
            chord = 0.08 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63))
            noise = 0.01 * rng.standard_normal(t.size)
            left, right = 0.5 * kick + bass + chord + noise, 0.5 * kick + 0.8 * bass + chord - noise
            f.write((0.8 * np.stack([left, right], axis=1)).astype(np.float32))
    return path


# The command runs under this small Python, whose waited-for children's peak is the command's. Measuring the
# command's own wait4 from pytest would not do: Linux carries the peak of the memory a child was forked from
# (pytest's, 1.5 GB late in a full run) into the child's ru_maxrss at exec.
MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def peak_mb(args: list[str], folder: Path) -> tuple[int, float, str]:
    """(exit code, peak RSS in MB, stderr) of ``musicmaker ARGS`` in a process of its own (and of the children
    it waits for: Rubber Band for ``conform``)."""
    musicmaker = Path(sys.executable).with_name("musicmaker")
    peak = folder / "peak.txt"
    with open(folder / "out.txt", "wb") as out, open(folder / "err.txt", "wb") as err:
        code = subprocess.call(
            [sys.executable, "-c", MEASURE, str(peak), str(musicmaker), *args], stdout=out, stderr=err
        )
    return code, int(peak.read_text()) / 1024, (folder / "err.txt").read_text()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("analyze", []),
        ("analyze", ["--chords", "--bpm", "120"]),
        ("master", ["-o", "{out}/long.master.flac"]),
        ("transcribe", ["--instrument", "piano", "-o", "{out}/long.mid"]),
        ("transcribe", ["--instrument", "drums", "-o", "{out}/long.drums.mid"]),
        ("conform", ["--bpm", "100", "-o", "{out}/long.100.wav"]),
    ],
    ids=["analyze", "analyze-chords", "master", "transcribe-piano", "transcribe-drums", "conform"],
)
def test_a_20_minute_stereo_file_stays_under_the_bound(
    long_wav: Path, tmp_path: Path, command: str, args: list[str]
) -> None:
    code, peak, err = peak_mb([command, str(long_wav), *(a.format(out=tmp_path) for a in args)], tmp_path)
    assert code == 0, err
    assert peak < BOUND_MB, f"{command}: peak {peak:.0f} MB"
