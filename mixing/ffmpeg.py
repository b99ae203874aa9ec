"""ffmpeg as an external tool: finding it, decoding with it, and its EBU R128 meter as an independent check.

``mixing.export`` re-exports :func:`require_ffmpeg` and :func:`ffmpeg_loudness`.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from stems.audio import Audio, check_audio_file, read_audio
from stems.errors import AudioInputError, UserInputError

INSTALL_HINT = (
    "install it and make sure `ffmpeg` is on PATH: `sudo apt-get install ffmpeg` (Debian/Ubuntu), "
    "`brew install ffmpeg` (macOS), `conda install -c conda-forge ffmpeg` or `winget install ffmpeg` (Windows)"
)
_SUMMARY_FIELDS = {
    "integrated_lufs": r"I:\s+(-?[\d.]+|-?inf)\s+LUFS",
    "loudness_range_lu": r"LRA:\s+(-?[\d.]+|-?inf)\s+LU\b",
    "true_peak_dbtp": r"Peak:\s+(-?[\d.]+|-?inf)\s+dBFS",
}


def require_ffmpeg() -> str:
    """Path of the ffmpeg executable; a UserInputError with an install hint when there is none."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise UserInputError(
            f"ffmpeg was not found (needed for MP3 export and loudness checks); {INSTALL_HINT}"
        )
    return path


def _run(args: list[str], what: str) -> str:
    """Run ffmpeg, return its stderr (where it writes its reports); a clear error when it fails."""
    proc = subprocess.run(
        [require_ffmpeg(), "-hide_banner", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise AudioInputError(f"{what}: ffmpeg failed (exit {proc.returncode}): {tail}")
    return proc.stderr


def parse_ebur128_summary(text: str) -> dict[str, float]:
    """Integrated loudness, loudness range and true peak from ffmpeg's ``ebur128`` Summary block."""
    _, sep, summary = text.rpartition("Summary:")
    if not sep:
        raise AudioInputError(
            "ffmpeg printed no ebur128 Summary; is this ffmpeg built with the ebur128 filter?"
        )
    values: dict[str, float] = {}
    for key, pattern in _SUMMARY_FIELDS.items():
        match = re.search(pattern, summary)
        if match is None:
            raise AudioInputError(
                f"ffmpeg ebur128 Summary has no {key.split('_')[0]} value:\n{summary.strip()}"
            )
        values[key] = float(match.group(1))
    return values


def ffmpeg_loudness(path: Path) -> dict[str, float]:
    """ffmpeg's own R128 meter (``ebur128=peak=true``): integrated_lufs, loudness_range_lu, true_peak_dbtp.

    ffmpeg prints one decimal; silence reads as -70 LUFS and ``-inf`` dBTP.
    """
    path = Path(path)
    check_audio_file(path)
    text = _run(["-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"], str(path))
    values = parse_ebur128_summary(text)
    assert all(not math.isnan(v) for v in values.values())
    return values


def decode(path: Path) -> Audio:
    """Decode anything ffmpeg reads (MP3, AAC, Opus, ...) to float32, at the file's own rate and channels."""
    with tempfile.TemporaryDirectory(prefix="musicmaker-decode-") as tmp:
        wav = Path(tmp) / "decoded.wav"
        decode_to_wav(path, wav)
        return read_audio(wav)


def decode_to_wav(path: Path, wav: Path) -> None:
    """Decode anything ffmpeg reads into the float WAV ``wav``, which can then be read a block at a time."""
    _run(["-nostdin", "-i", str(path), "-vn", "-c:a", "pcm_f32le", str(wav)], str(path))
