"""``analyze``: tempo, beats, downbeat, tuning and key of any audio (a stem or a mix)."""

from __future__ import annotations

import numpy as np

from stems.audio import Audio, check_finite, convert_audio
from stems.conform import beats as beatlib
from stems.conform.keys import estimate_key, estimate_tuning
from stems.conform.records import Analysis
from stems.conform.timemap import beat_indices

ANALYSIS_RATE = 22_050  # librosa's default rate: its beat tracker and chroma constants assume it
# Midway onsets this strong (against those at the beats) mean the audio also pulses at twice the tempo found.
DOUBLE_PULSE = 0.8
SILENCE_DBFS = -60.0  # RMS below this: nothing to analyse (MusicGen "silence" sits far lower)


def _rms_dbfs(y: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
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
    if bpm_hint is not None and not (np.isfinite(bpm_hint) and bpm_hint > 0):
        raise ValueError(f"bpm_hint must be a positive number, got {bpm_hint}")
    y = convert_audio(audio, ANALYSIS_RATE, 1).samples[0].astype(np.float32)
    loudness = _rms_dbfs(y)
    if loudness < SILENCE_DBFS:
        note = f"silent: RMS {loudness:.0f} dBFS, below {SILENCE_DBFS:g}"
        return Analysis(audio.duration, None, 0.0, (), None, 0.0, 0.0, 0.0, None, 0.0, beats_per_bar, (note,))
    features = beatlib.Features(y, ANALYSIS_RATE)
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
    cents, tuning_conf = estimate_tuning(y, ANALYSIS_RATE)
    key, key_conf = estimate_key(y, ANALYSIS_RATE, cents)
    return Analysis(
        duration=audio.duration,
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
