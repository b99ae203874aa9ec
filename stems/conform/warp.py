"""Time-map stretching and pitch shifting with the Rubber Band command-line tool (Debian ``rubberband-cli``).

Measured on this project's 2-core box, a 293 s stereo 32 kHz FluidSynth stem with a 560-beat time map
(``rubberband --timemap``): R3 (``--fine``) 24.5 s wall (0.084x real time), R2 (the default) 14.7 s (0.050x),
R2 ``-c 6`` 6.4 s. R3 placed the output beats closer to the grid (mean 2.9 ms against 5.4 ms for R2, p95 5.9
against 8.8 ms), well inside the 0.25x budget, so R3 is used. The whole ``conform`` of that stem (analysis
before and after, R3 warp and retune) took 38.9 s wall, 0.13x real time, on the shared 2-core box.
Chosen on bench/conform.py's tuning pieces alone (PIECES, seed 0, the beat constants as fitted there): onset
F1 of the conformed pieces after transcription R3 0.786, R2 0.765 (R3 higher on 7 of 10 pieces, R2 on a string
ensemble chorale, Mozart K. 155 and American Hornpipe); their beats within 70 ms the same after warping (0.994)
and placed R3 0.996, R2 1.000 (R3 missed one click each on three pieces), so R3 stays for all.
``--ignore-clipping``: the float WAV round trip holds peaks above 0 dBFS, so no gain change is needed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from stems.audio import Audio
from stems.errors import UserInputError

ENGINE = ("--fine",)  # R3; "--fast" selects R2 (see the module docstring for the choice)
ENGINE_NAME = "rubberband R3 (--fine)"
INSTALL_HINT = (
    "install it and make sure `rubberband` is on PATH: `sudo apt-get install rubberband-cli` (Debian/Ubuntu; "
    "`make install` does it), `brew install rubberband` (macOS)"
)
TIMEOUT_S = 1800  # a 10-minute stem takes about a minute; anything near this is a hung process


def require_rubberband() -> str:
    """Path of the rubberband executable; a UserInputError with an install hint when there is none."""
    path = shutil.which("rubberband")
    if path is None:
        raise UserInputError(
            f"rubberband was not found (needed to conform stems to the tempo grid); {INSTALL_HINT}"
        )
    return path


@functools.cache
def rubberband_version() -> str:
    """The installed Rubber Band's version (part of the conform stage's cache key: another version stretches
    differently)."""
    done = subprocess.run([require_rubberband(), "--version"], capture_output=True, text=True, timeout=30)
    return (
        (done.stdout + done.stderr).strip().splitlines()[0]
        if (done.stdout + done.stderr).strip()
        else "unknown"
    )


def stretch(audio: Audio, source: np.ndarray, target: np.ndarray, *, cents: float = 0.0) -> Audio:
    """Warp ``audio`` so input time ``source[i]`` lands at output time ``target[i] - target[0]`` (seconds,
    increasing), shifting pitch by ``cents``; the output lasts ``target[-1] - target[0]`` (to a few samples)."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="musicmaker-conform-") as tmp:
        wav_in, wav_out = Path(tmp, "in.wav"), Path(tmp, "out.wav")
        sf.write(str(wav_in), np.ascontiguousarray(audio.samples.T), audio.sample_rate, subtype="FLOAT")
        stretch_file(wav_in, wav_out, audio.sample_rate, source, target, cents=cents)
        data, _ = sf.read(str(wav_out), dtype="float32", always_2d=True)
    return Audio(np.ascontiguousarray(data.T), audio.sample_rate)


def stretch_file(
    wav_in: Path, wav_out: Path, rate: int, source: np.ndarray, target: np.ndarray, *, cents: float = 0.0
) -> None:
    """:func:`stretch` from file to file (a float WAV in, the same format out): Rubber Band reads and writes
    in blocks, so a long file is warped without being held in memory."""
    src = np.round(np.asarray(source) * rate).astype(np.int64)
    dst = np.round((np.asarray(target) - target[0]) * rate).astype(np.int64)
    if not (np.all(np.diff(src) > 0) and np.all(np.diff(dst) > 0)):
        raise ValueError("time map anchors must increase")
    mapfile = wav_out.with_name(wav_out.name + ".map.txt")
    mapfile.write_text("".join(f"{s} {d}\n" for s, d in zip(src[1:-1], dst[1:-1])))
    ratio = dst[-1] / max(src[-1], 1)
    args = [require_rubberband(), "-q", *ENGINE, "--ignore-clipping", "--time", f"{ratio:.10f}"]
    if len(src) > 2:  # inner anchors; the ends follow from --time
        args += ["--timemap", str(mapfile)]
    if abs(cents) > 0:
        args += ["--frequency", f"{2.0 ** (cents / 1200.0):.10f}"]
    try:
        _run([*args, str(wav_in), str(wav_out)])
    finally:
        mapfile.unlink(missing_ok=True)


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"rubberband failed (exit {proc.returncode}): {tail}")
