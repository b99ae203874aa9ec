"""File-level entry points for the command line: ``musicmaker analyze`` and ``musicmaker conform``."""

from __future__ import annotations

from pathlib import Path

from stems.audio import read_audio, write_wav
from stems.conform.analysis import analyze
from stems.conform.apply import conform
from stems.conform.keys import parse_key
from stems.conform.records import Analysis, ConformResult, Grid
from stems.conform.warp import require_rubberband
from stems.instruments import DRUM_FAMILY, resolve_instrument


def _family(instrument: str | None) -> str | None:
    """The family of ``--instrument`` (a family or a GM name or number); a UserInputError for an unknown one."""
    return None if instrument is None else resolve_instrument(instrument).family


def analyze_file(
    path: Path, *, bpm_hint: float | None = None, beats_per_bar: int = 4, instrument: str | None = None
) -> Analysis:
    family = _family(instrument)
    return analyze(read_audio(path), bpm_hint=bpm_hint, beats_per_bar=beats_per_bar, family=family)


def conform_file(
    path: Path,
    out: Path,
    *,
    bpm: float,
    beats_per_bar: int = 4,
    key: str | None = None,
    instrument: str | None = None,
) -> ConformResult:
    """Conform the audio at ``path`` to ``bpm`` (bar 1 after the input's lead-in), retuned toward ``key``
    when one is given (never a drum ``instrument``), and write it to ``out`` when something was done (input
    rate, channels and float WAV).
    """
    if key is not None:
        parse_key(key)  # a typo in --key is the user's to fix before any work
    family = _family(instrument)
    require_rubberband()
    audio = read_audio(path)
    grid = Grid(bpm=bpm, beats_per_bar=beats_per_bar, duration=None, key=key, origin=None)
    result = conform(
        audio, grid, tempo=True, key=key is not None, pitched=family != DRUM_FAMILY, family=family
    )
    if result.applied:
        write_wav(out, result.audio)
    return result
