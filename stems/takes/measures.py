"""Measure a take against what it was asked to be (:class:`Target`): the terms of :mod:`stems.takes.terms`.

The beat analysis is the conform stage's (``stems.conform.analyze``), the chords the chord recogniser's, the
pitch classes its note salience: a take is judged by what the render itself measures. The take's own beats
are put on the grid from its first downbeat (the bar line nearest it, as conform places it), so harmony is
judged where conform would put each beat, without warping the audio first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stems.audio import Audio
from stems.conform import Analysis, BeatChord, analyze, chord_adherence, parse_key, recognize_chords
from stems.conform.analysis import SILENCE_DBFS  # a block under it is silent, as a signal is to the analysis
from stems.conform.chords import Planned, beat_pitch_classes
from stems.instruments import DRUM_FAMILY
from stems.takes.terms import (
    CLIP_SHARE_ZERO,
    DROPOUTS_ZERO,
    TakeScores,
    flat_top_share,
    key_term,
    scores,
    share_term,
    tempo_term,
    tuning_term,
)
from stems.transcription.midi import Note

SILENCE_BLOCK_S = 0.1
DROPOUT_BLOCK_S = 0.002  # the envelope a dropout is found on: 2 ms RMS blocks
DROPOUT_FALL_DB = 30.0  # a dropout falls this much from one block to the next, and comes back as fast
DROPOUT_FROM_DB = 30.0  # ... from sound no more than this under the take's loud blocks (95th percentile)
DROPOUT_MAX_S = 0.5  # a longer gap is a rest, counted as silence if it is one


@dataclass(frozen=True)
class Target:
    """What a take should fit: the arranged tempo and meter, and when known the key, the planned chords
    (grid seconds, ``stems.score.Score.chords``) or the part's notes (grid seconds), and the family (drums
    are not judged on harmony, key or tuning)."""

    bpm: float
    beats_per_bar: int = 4
    key: str | None = None
    chords: Sequence[Planned] | None = None
    part: Sequence[Note] | None = None
    family: str | None = None


def measure(
    audio: Audio,
    target: Target,
    *,
    removed: float | None = None,
    guide: np.ndarray | None = None,
    analysis: Analysis | None = None,
) -> TakeScores:
    """Every term of ``audio`` against ``target``. ``removed``: the share of energy the separation took out
    (None: not separated); ``guide``: the one-hot melody chroma ``(frames, 12)`` it was conditioned on, zero
    rows unvoiced; ``analysis``: the beat analysis when the caller has it."""
    if analysis is None:
        analysis = analyze(
            audio, bpm_hint=target.bpm, beats_per_bar=target.beats_per_bar, family=target.family
        )
    pitched = target.family != DRUM_FAMILY  # drums have no harmony, key or tuning to judge
    arranged_key = parse_key(target.key) if target.key and pitched else None
    found_key = parse_key(analysis.key) if analysis.key else None
    tempo, tempo_error = tempo_term(analysis.tempo_bpm, target.bpm)
    harmony = harmony_share(audio, target, analysis) if pitched else None
    clipped = flat_top_share(audio.samples)
    silent = silent_share(audio)
    dropouts = dropouts_per_minute(audio)
    agreement = guide_agreement(audio, guide) if guide is not None else None
    return scores(
        beat_stability=(analysis.tempo_confidence, analysis.tempo_bpm),
        tempo=(tempo, tempo_error),
        harmony=(harmony, harmony),
        key=(
            key_term(found_key, arranged_key),
            analysis.key_confidence if found_key and arranged_key else None,
        ),
        tuning=(tuning_term(analysis.tuning_cents), analysis.tuning_cents) if pitched else (None, None),
        bleed=(share_term(removed), removed),
        clipping=(share_term(clipped, CLIP_SHARE_ZERO), clipped),
        silence=(share_term(silent), silent),
        dropouts=(share_term(dropouts, DROPOUTS_ZERO), dropouts),
        guide=(agreement, agreement),
    )


def grid_beats(analysis: Analysis, target: Target, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """(the take's beats, their times on the grid): the first downbeat on the bar line nearest it, the beats
    counted on from there. Without two beats found, the grid's own beats for both."""
    beat = 60.0 / target.bpm
    found = np.asarray(analysis.beats, dtype=np.float64)
    if len(found) < 2:
        grid = np.arange(0.0, duration, beat)
        return grid, grid
    if analysis.downbeat is None:
        first, k0 = 0, round(found[0] / beat)
    else:
        first = int(np.argmin(np.abs(found - analysis.downbeat)))
        k0 = target.beats_per_bar * round(found[first] / (beat * target.beats_per_bar))
    return found, (k0 + np.arange(len(found)) - first) * beat


def harmony_share(audio: Audio, target: Target, analysis: Analysis) -> float | None:
    """The share of beats on the planned chord (with ``target.chords``) or whose strongest pitch class is one
    the part sounds in that beat (with ``target.part``), at the bar phase where the take fits best; None with
    neither, or no beat to count.

    The phase: the beats from the found downbeat, or moved by up to half a bar either way. The downbeat
    found from the audio alone was a beat off in 3 of the 6 good takes of bench/takes.py's tuning sets, and
    harmony judged there fell to 0.15-0.24; a stem with a part is placed by the part (``conform_to_score``),
    which finds the phase the notes fit."""
    if not target.chords and not target.part:
        return None
    beats, grid = grid_beats(analysis, target, audio.duration)
    beat = 60.0 / target.bpm
    if target.chords:
        chords = target.chords
        recognised = recognize_chords(audio, beats, analysis.tuning_cents)

        def share(on: np.ndarray) -> float | None:
            placed = [BeatChord(float(g), float(g) + beat, c.root, c.quality) for g, c in zip(on, recognised)]
            return chord_adherence(placed, chords).fraction

    else:
        part = target.part
        assert part is not None
        classes = beat_pitch_classes(audio, beats, analysis.tuning_cents)

        def share(on: np.ndarray) -> float | None:
            right = counted = 0
            for index, start in enumerate(on):
                sounding = part_classes(part, float(start), float(start) + beat)
                if sounding and classes[:, index].any():
                    counted += 1
                    right += int(int(np.argmax(classes[:, index])) in sounding)
            return right / counted if counted else None

    half = target.beats_per_bar // 2
    fits = [
        f
        for f in (share(grid + k * beat) for k in range(-half, target.beats_per_bar - half))
        if f is not None
    ]
    return max(fits) if fits else None


def part_classes(part: Sequence[Note], start: float, end: float) -> set[int]:
    """Pitch classes of the notes that sound over at least a quarter of ``[start, end)``."""
    least = 0.25 * (end - start)
    return {n.pitch % 12 for n in part if min(n.end, end) - max(n.start, start) >= least}


def _levels_db(audio: Audio, block_s: float) -> np.ndarray:
    """RMS of each block of ``block_s`` (the loudest channel's), in dB full scale."""
    size = max(1, round(block_s * audio.sample_rate))
    blocks = audio.num_samples // size
    if blocks == 0:
        return np.zeros(0)
    x = np.asarray(audio.samples[:, : blocks * size], dtype=np.float32).reshape(audio.channels, blocks, size)
    power = np.square(x).mean(axis=2).max(axis=0)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(power, 1e-20))


def silent_share(audio: Audio) -> float:
    levels = _levels_db(audio, SILENCE_BLOCK_S)
    return float(np.mean(levels < SILENCE_DBFS)) if len(levels) else 1.0


def dropouts_per_minute(audio: Audio) -> float:
    """Gaps inside sound: the level falls DROPOUT_FALL_DB from one 2 ms block to the next (from no more than
    DROPOUT_FROM_DB under the take's loud blocks) and rises as much within DROPOUT_MAX_S. A note's release decays over tens of ms and
    a rest does not come back in one block, so neither counts."""
    levels = _levels_db(audio, DROPOUT_BLOCK_S)
    if len(levels) < 3 or audio.duration <= 0:
        return 0.0
    step = np.diff(levels)
    loud = float(np.percentile(levels, 95)) - DROPOUT_FROM_DB
    falls = np.flatnonzero((step <= -DROPOUT_FALL_DB) & (levels[:-1] >= loud))
    rises = np.flatnonzero(step >= DROPOUT_FALL_DB)
    longest = round(DROPOUT_MAX_S / DROPOUT_BLOCK_S)
    count = 0
    for fall in falls:
        after = rises[np.searchsorted(rises, fall + 1) :]
        count += int(len(after) > 0 and after[0] - fall <= longest)
    return 60.0 * count / audio.duration


def guide_agreement(audio: Audio, guide: np.ndarray) -> float | None:
    """The share of the guide's voiced frames where the take's own one-hot chroma (as the model's feature
    extractor computes it) names the guide's pitch class."""
    from stems.musicgen.chroma import melody_chroma

    own = melody_chroma(audio, max_seconds=audio.duration)
    frames = min(len(own), len(guide))
    voiced = guide[:frames].any(axis=1)
    if not voiced.any():
        return None
    same = own[:frames].argmax(axis=1) == guide[:frames].argmax(axis=1)
    return float(np.mean(same[voiced]))
