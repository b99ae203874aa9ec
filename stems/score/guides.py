"""The chroma guide MusicGen-melody is conditioned on, computed from a part's notes, and its adherence.

The model receives, per chroma frame, a one-hot vector on one pitch class (audiocraft's
``ChromaStemConditioner`` with ``argmax=True``; :mod:`stems.musicgen.chroma` reproduces it from audio). A
part's guide has the same frames: frame ``i`` is centred at ``start + i * HOP / CHROMA_SAMPLE_RATE`` and
sees a Hann window of ``N_FFT`` samples, as the extractor's centred STFT does, and a window of ``seconds``
has ``chroma_frames(seconds)`` frames. Instead of a spectrum, each frame scores the pitch classes of the
notes under its window: a note counts its velocity times the Hann-weighted time it sounds in the window,
and the note that defines the part's harmony at the frame's centre counts PRIORITY times (the lowest note
held there, so a bass lands on its bass note and a voicing on its bottom tone; for a lead the highest, its
melody; a note is held until the part's next onset, so the gap after a detached note keeps its harmony). The argmax is one-hot; a frame with no note is one-hot on C, which is what the extractor
yields for silence (all-zero chroma, argmax 0), and is not "voiced".

:func:`adherence` scores any such chroma, the guide's or the extractor's on rendered audio, against the
planned chords, frame by frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stems.errors import UserInputError
from stems.musicgen.chroma import CHROMA_SAMPLE_RATE, HOP, N_FFT, NUM_CHROMA, chroma_frames, one_hot_chroma
from stems.musicgen.plan import MUSICGEN_WINDOW_S
from stems.score.parts import LEAD, Part
from stems.score.timeline import Score

PRIORITY = 2.0  # how much more the note defining the harmony at a frame's centre counts than the others
FRAME_SECONDS = HOP / CHROMA_SAMPLE_RATE
WINDOW_SECONDS = N_FFT / CHROMA_SAMPLE_RATE


@dataclass(frozen=True)
class Guide:
    """One-hot chroma ``(frames, 12)`` float32 as the model receives it, which frames have a note, and the
    time of the first frame's centre."""

    chroma: np.ndarray
    voiced: np.ndarray
    start: float

    @property
    def times(self) -> np.ndarray:
        return frame_times(len(self.chroma), self.start)

    @property
    def pitch_classes(self) -> np.ndarray:
        return np.asarray(self.chroma.argmax(axis=1), dtype=np.int64)


def frame_times(frames: int, start: float = 0.0) -> np.ndarray:
    """Centres of the extractor's frames, in seconds."""
    return start + np.arange(frames) * FRAME_SECONDS


def guide_chroma(part: Part, start: float = 0.0, seconds: float = MUSICGEN_WINDOW_S) -> Guide:
    """The guide of ``seconds`` from ``start`` (one generation window by default)."""
    if part.instrument.is_drum:
        raise UserInputError(f"stem {part.stem!r}: drums have no pitch to guide a melody model with")
    times = frame_times(chroma_frames(seconds), start)
    scores = np.zeros((len(times), NUM_CHROMA))
    half = WINDOW_SECONDS / 2
    notes = [n for n in part.notes if n.end > times[0] - half and n.start < times[-1] + half]
    if notes:
        starts, ends, pitches, velocities = (
            np.array([getattr(n, field) for n in notes], dtype=np.float64)
            for field in ("start", "end", "pitch", "velocity")
        )
        weights = _hann_overlap(starts, ends, times) * velocities[:, None]
        weights *= np.where(_defining(starts, ends, pitches, times, part.role == LEAD), PRIORITY, 1.0)
        scores = weights.T @ np.eye(NUM_CHROMA)[pitches.astype(np.int64) % NUM_CHROMA]
    return Guide(one_hot_chroma(scores), scores.max(axis=1) > 0, start)


def _hann_overlap(starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(notes, frames): the integral of the frame's Hann window over the time each note sounds in it."""
    length = WINDOW_SECONDS
    left = times[None, :] - length / 2
    a = np.clip(starts[:, None] - left, 0.0, length)
    b = np.clip(ends[:, None] - left, 0.0, length)

    def integral(x: np.ndarray) -> np.ndarray:
        return 0.5 * x - length / (4 * math.pi) * np.sin(2 * math.pi * x / length)

    return integral(b) - integral(a)


def _defining(
    starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray, times: np.ndarray, top: bool
) -> np.ndarray:
    """(notes, frames) mask of the note defining each frame: the lowest (``top``: highest) held at its
    centre, a note being held until the part's next onset (the gap of a detached note keeps its harmony)."""
    onsets = np.unique(starts)
    following = onsets[np.minimum(np.searchsorted(onsets, starts, side="right"), len(onsets) - 1)]
    held = np.maximum(ends, np.where(following > starts, following, ends))
    sounding = (starts[:, None] <= times[None, :]) & (held[:, None] > times[None, :])
    key = np.where(sounding, -pitches[:, None] if top else pitches[:, None], np.inf)
    best = key.argmin(axis=0)
    mask = np.zeros_like(sounding)
    frames = np.flatnonzero(sounding.any(axis=0))
    mask[best[frames], frames] = True
    return mask


@dataclass(frozen=True)
class Adherence:
    """Frame counts: voiced frames with a planned chord, those on one of its tones, those on its bass."""

    frames: int
    on_chord: int
    on_bass: int

    @property
    def chord_fraction(self) -> float:
        return self.on_chord / self.frames if self.frames else math.nan

    @property
    def bass_fraction(self) -> float:
        return self.on_bass / self.frames if self.frames else math.nan


def adherence(chroma: np.ndarray, times: np.ndarray, voiced: np.ndarray, score: Score) -> Adherence:
    """How often the strongest pitch class of ``chroma`` (frames, 12) is a tone of the chord planned at each
    frame's time, and its bass note; frames not voiced or without a planned chord are not counted."""
    frames = on_chord = on_bass = 0
    for pc, time, sounding in zip(chroma.argmax(axis=1), times, voiced):
        chord = score.chord_at(float(time))
        if not sounding or chord is None:
            continue
        frames += 1
        on_chord += int(pc) in chord.pitch_classes
        on_bass += int(pc) == chord.bass_pc
    return Adherence(frames, on_chord, on_bass)


def guide_adherence(guide: Guide, score: Score) -> Adherence:
    return adherence(guide.chroma, guide.times, guide.voiced, score)


@dataclass(frozen=True)
class PartGuide:
    """A part as the chroma guide of a generation request (``stems.musicgen.types.ChromaGuide``): each window's
    chroma is computed from the part's notes on demand, so a long stem never holds its whole guide."""

    part: Part

    def window(self, start: float, seconds: float) -> np.ndarray:
        return guide_chroma(self.part, start, seconds).chroma
