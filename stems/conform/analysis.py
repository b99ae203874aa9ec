"""``analyze``: tempo, beats, downbeat, tuning and key of any audio (a stem or a mix)."""

from __future__ import annotations

import math

import numpy as np

from stems.audio import Audio, check_finite
from stems.conform import beats as beatlib
from stems.conform import spectra
from stems.conform.keys import estimate_key, estimate_tuning
from stems.conform.records import Analysis
from stems.conform.timemap import beat_indices
from stems.streaming import Signal, as_signal

ANALYSIS_RATE = 22_050  # librosa's default rate: its beat tracker and chroma constants assume it
# Midway onsets this strong (against those at the beats) mean the audio also pulses at twice the tempo found.
DOUBLE_PULSE = 0.8
SILENCE_DBFS = -60.0  # RMS below this: nothing to analyse (MusicGen "silence" sits far lower)


def _rms_dbfs(signal: Signal) -> float:
    rms = math.sqrt(spectra.mean_square(signal))
    return -np.inf if rms <= 0 else 20.0 * np.log10(rms)


def _tempo(times: np.ndarray) -> float | None:
    """Mean tempo: the slope of the line through the beats against their grid steps (a skipped beat counts 2)."""
    if len(times) < 2:
        return None
    slope = np.polyfit(beat_indices(times).astype(np.float64), times, 1)[0]
    return 60.0 / float(slope) if slope > 0 else None


def analyze(
    audio: Audio, *, bpm_hint: float | None = None, beats_per_bar: int = 4, family: str | None = None
) -> Analysis:
    """Analyse ``audio``; with ``bpm_hint`` the beats are at the metrical level nearest it (and a warning
    says so when that differs from the level the tracker found). ``family`` (an instrument family such as
    ``strings``; None for a mix) sets how late its onsets peak after the note-ons (``beats.latency``)."""
    check_finite(audio, "analysis input")
    return analyze_signal(
        as_signal(audio, ANALYSIS_RATE),
        audio.duration,
        bpm_hint=bpm_hint,
        beats_per_bar=beats_per_bar,
        family=family,
    )


def analyze_signal(
    signal: Signal,
    duration: float,
    *,
    bpm_hint: float | None = None,
    beats_per_bar: int = 4,
    family: str | None = None,
) -> Analysis:
    """:func:`analyze` of the input's mono ``signal`` at ``ANALYSIS_RATE`` (in memory or a temporary file:
    every feature is read a chunk at a time) that lasts ``duration`` seconds at its own rate."""
    if bpm_hint is not None and not (np.isfinite(bpm_hint) and bpm_hint > 0):
        raise ValueError(f"bpm_hint must be a positive number, got {bpm_hint}")
    loudness = _rms_dbfs(signal)
    if loudness < SILENCE_DBFS:
        note = f"silent: RMS {loudness:.0f} dBFS, below {SILENCE_DBFS:g}"
        return Analysis(duration, None, 0.0, (), None, 0.0, 0.0, 0.0, None, 0.0, beats_per_bar, (note,))
    features = beatlib.Features(signal)
    found = beatlib.track(features, bpm_hint, family)
    times, warnings = found.times, list[str]()
    if bpm_hint is not None and found.tempo_bpm is not None:
        times, level = beatlib.to_level(times, found.tempo_bpm, bpm_hint)
        warnings += [level] if level else []
        if level is None and found.offbeat >= DOUBLE_PULSE:
            warnings.append(
                f"onsets come as strongly between the beats ({2 * found.tempo_bpm:.1f} bpm, about "
                f"double {bpm_hint:g}): the level nearest {bpm_hint:g} is used"
            )
    tempo = _tempo(times)
    first, db_conf = beatlib.downbeat_phase(features, times, beats_per_bar)
    cents, tuning_conf = estimate_tuning(signal)
    key, key_conf = estimate_key(signal, cents)
    return Analysis(
        duration=duration,
        tempo_bpm=tempo,
        tempo_confidence=found.confidence if tempo is not None else 0.0,
        beats=tuple(float(t) for t in times),
        downbeat=float(times[first]) if len(times) else None,
        downbeat_confidence=db_conf,
        tuning_cents=cents,
        tuning_confidence=tuning_conf,
        key=key,
        key_confidence=key_conf,
        beats_per_bar=beats_per_bar,
        warnings=tuple(warnings),
    )
