"""Album sequencing: tracks joined with silent gaps or equal-power crossfades, and the CUE sheet that indexes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stems.audio import Audio, convert_audio
from stems.errors import UserInputError

CUE_FRAMES_PER_SECOND = 75  # Red Book CD frames; CUE INDEX times are mm:ss:ff in these frames


@dataclass(frozen=True)
class Sequenced:
    audio: Audio
    starts: tuple[float, ...]  # seconds where each track begins in ``audio``
    durations: tuple[float, ...]


def sequence(
    tracks: Sequence[Audio], gap: float = 0.0, crossfade: float = 0.0, channels: int = 2
) -> Sequenced:
    """Join ``tracks`` at the first track's rate: ``gap`` s of silence, or ``crossfade`` s of equal-power overlap."""
    if not tracks:
        raise UserInputError("an album needs at least one track to sequence")
    if gap < 0 or crossfade < 0 or (gap > 0 and crossfade > 0):
        raise UserInputError(
            f"use a gap or a crossfade of zero or more seconds, not both (gap {gap}, crossfade {crossfade})"
        )
    rate = tracks[0].sample_rate
    parts = [convert_audio(t, rate, channels).samples for t in tracks]
    overlap = int(round(crossfade * rate))
    problem = crossfade_problem(overlap / rate, [p.shape[1] / rate for p in parts])
    if problem:
        raise UserInputError(problem)
    silence = int(round(gap * rate))
    starts, cursor = [], 0
    for index, part in enumerate(parts):
        starts.append(cursor)
        cursor += (
            part.shape[1]
            + (silence if index < len(parts) - 1 else 0)
            - (overlap if index < len(parts) - 1 else 0)
        )
    out = np.zeros((channels, cursor), dtype=np.float32)
    for index, (start, part) in enumerate(zip(starts, parts)):
        out[:, start : start + part.shape[1]] += _faded(part, overlap, index > 0, index < len(parts) - 1)
    return Sequenced(
        Audio(out, rate), tuple(s / rate for s in starts), tuple(p.shape[1] / rate for p in parts)
    )


def crossfade_problem(crossfade: float, durations: Sequence[float]) -> str | None:
    """Why ``crossfade`` s cannot join tracks of ``durations`` s: a track fades in and out, so each must last at
    least two crossfades (None when it fits)."""
    shortest = min(durations, default=0.0)
    if crossfade * 2 <= shortest + 1e-9:
        return None
    return (
        f"crossfade {crossfade:g} s is longer than half the shortest track ({shortest:.1f} s); "
        f"use a crossfade of at most {shortest / 2:.1f} s"
    )


def _faded(x: np.ndarray, overlap: int, fade_in: bool, fade_out: bool) -> np.ndarray:
    """Equal-power (sine/cosine) ramps over ``overlap`` samples, so a crossfade keeps the summed power constant."""
    if overlap == 0:
        return x
    y = x.copy()
    ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap).astype(np.float32)
    if fade_in:
        y[:, :overlap] *= ramp
    if fade_out:
        y[:, -overlap:] *= ramp[::-1]
    return y


def cue_time(seconds: float) -> str:
    frames = int(round(seconds * CUE_FRAMES_PER_SECOND))
    minutes, rest = divmod(frames, 60 * CUE_FRAMES_PER_SECOND)
    secs, frame = divmod(rest, CUE_FRAMES_PER_SECOND)
    return f"{minutes:02d}:{secs:02d}:{frame:02d}"


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def cue_sheet(audio_file: str, title: str, artist: str | None, tracks: Sequence[tuple[str, float]]) -> str:
    """A CUE sheet for one album WAV: (track title, start seconds) per track."""
    lines = [f"PERFORMER {_quote(artist or '')}", f"TITLE {_quote(title)}", f"FILE {_quote(audio_file)} WAVE"]
    for number, (name, start) in enumerate(tracks, 1):
        lines += [
            f"  TRACK {number:02d} AUDIO",
            f"    TITLE {_quote(name)}",
            f"    INDEX 01 {cue_time(start)}",
        ]
    return "\n".join(lines) + "\n"
