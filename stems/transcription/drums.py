"""Drum transcription: onset detection, then classification of each onset by spectral band.

Pitched transcription is meaningless for drums, so a drum stem is split into onsets (band-wise
spectral flux, in the spirit of Klapuri 1999 "Sound onset detection by applying psychoacoustic
knowledge") and each onset gets one or more General MIDI percussion notes (GM Level 1 key map):
kick 36, snare 38, closed hi-hat 42, crash 49 / ride 51. The decision uses the power ADDED at the
onset in four bands (so a hi-hat on top of a kick is still seen) and how long the mid band rings
(cymbals ring, hats are choked). Velocity follows onset strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stems.audio import Audio
from stems.streaming import Signal, as_signal
from stems.transcription.midi import Note, without_overlaps
from stems.transcription.settings import TranscriptionSettings

KICK, SNARE, HIHAT, CRASH, RIDE = 36, 38, 42, 49, 51
SAMPLE_RATE = 22050  # basic-pitch's rate too: a file's mono signal at it serves both (transcriber)
N_FFT = 1024
HOP = 128  # 5.8 ms frames: fine enough for the 50 ms onset tolerance of MIREX
# Bands (Hz): kick fundamentals; snare/tom body; snare wires and cymbal wash; hats and cymbal shimmer.
BANDS = ((30.0, 120.0), (120.0, 400.0), (400.0, 4000.0), (4000.0, 11000.0))
LOW, BODY, MID, HIGH = range(4)
BEFORE = (-8, -3)  # frames averaged as the level before an onset
AFTER = 8  # frames (46 ms) searched for the peak after an onset: the window reaches a hit early
MIN_GAP_S = 0.03  # onsets closer than this are one hit (a flam is written as one)
HIT_LENGTH_S = 0.1  # GM drum notes carry no duration; a short fixed length keeps DAWs happy
RING = (10, 30)  # frames 58-174 ms after the onset: hats and snares have died by then, cymbals not
FLOOR_DB = -35.0  # a band rising while more than this below its loudest level is not a hit
# The centred 46 ms STFT frame sees a hit before it happens: the flux peaks ~18 ms early (measured on
# clicks, synthetic kits and FluidR3 GM drums), so onsets are moved by this much.
DETECTION_DELAY_S = 0.018
CHUNK_FRAMES = 4096  # STFT frames computed at once: 24 s, 17 MB of complex values


@dataclass(frozen=True)
class DrumSettings:
    """Thresholds (dB) of the band classifier; see :func:`classify`."""

    onset_rise_db: float = 6.0
    kick_margin_db: float = 6.0
    snare_margin_db: float = 3.0
    snare_low_db: float = 8.0
    high_margin_db: float = 16.0
    cymbal_margin_db: float = 10.0
    cymbal_ring_db: float = -7.0
    hat_level_db: float = 12.0
    cymbal_tail_margin_db: float = 3.0
    cymbal_slope_db: float = -4.0


def band_power(audio: Audio | Signal) -> np.ndarray:
    """Power per band and frame, shape (4, frames), from a Hann STFT of the mono 22050 Hz signal (scipy's
    ``stft(boundary="even")``), a chunk of ``CHUNK_FRAMES`` frames at a time: only the 4 band sums of a frame
    are kept, never the whole spectrogram (issue 22: 20 minutes of drums took 5.7 GB)."""
    from scipy.signal import stft

    signal = as_signal(audio, SAMPLE_RATE) if isinstance(audio, Audio) else audio
    assert signal.sample_rate == SAMPLE_RATE
    half, length = N_FFT // 2, signal.length
    extended = length + 2 * half  # even extension of N_FFT // 2 at both ends, then zeros to whole hops
    total = (extended + (-(extended - N_FFT) % HOP) % N_FFT - N_FFT) // HOP + 1
    parts = []
    for first in range(0, total, CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, total - first)
        segment = _even_extended(signal, first * HOP - half, (first + count - 1) * HOP + N_FFT - half)
        freqs, _, spec = stft(
            segment, fs=SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False
        )
        power = np.abs(spec) ** 2
        parts.append(np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in BANDS]))
    return np.concatenate(parts, axis=1)


def _even_extended(signal: Signal, start: int, stop: int) -> np.ndarray:
    """Samples ``start`` to ``stop`` of the signal mirrored about its first and last samples for
    ``N_FFT // 2`` samples (scipy's ``even_ext``), zeros beyond."""
    out = signal.segment(start, stop)
    head = np.arange(max(start, -(N_FFT // 2)), min(stop, 0))  # mirrored: x[-i]
    if head.size:
        out[head - start] = signal.segment(1, N_FFT // 2 + 1)[-head - 1]
    end = signal.length
    tail = np.arange(max(start, end), min(stop, end + N_FFT // 2))  # mirrored: x[2 (end - 1) - i]
    if tail.size:
        mirror = signal.segment(end - N_FFT // 2 - 1, end - 1)
        out[tail - start] = mirror[2 * (end - 1) - tail - (end - N_FFT // 2 - 1)]
    return out


def onset_frames(power: np.ndarray, settings: DrumSettings) -> np.ndarray:
    """Frames where the band flux (largest log rise of any band over its last 3 frames) peaks."""
    log = 10 * np.log10(power + 1e-12)
    past = np.stack([np.roll(log, k, axis=1) for k in range(1, 4)]).max(axis=0)
    rise = np.clip(log - past, 0, None)
    rise[:, :3] = 0
    loud = log >= log.max(axis=1, keepdims=True) + FLOOR_DB
    flux = (rise * loud).max(axis=0)
    gap = max(1, int(MIN_GAP_S * SAMPLE_RATE / HOP))
    frames: list[int] = []
    for t in np.flatnonzero(flux >= settings.onset_rise_db):
        window = flux[max(0, t - gap) : t + gap + 1]
        if flux[t] == window.max() and (not frames or t - frames[-1] > gap):
            frames.append(int(t))
    return np.array(frames, dtype=int)


@dataclass(frozen=True)
class OnsetFeatures:
    """What the classifier knows about one onset (all in dB)."""

    frame: int
    added: np.ndarray  # power each band gained at the onset
    level: np.ndarray  # peak power per band
    ring_db: float  # mid-band power 58-174 ms later, relative to what the onset added there
    tail_db: float  # that later mid-band power itself (what is left above the level before the hit)
    slope_db: float  # second half of that window against the first: ~0 for a cymbal, -8 for a snare


@dataclass(frozen=True)
class StemReference:
    """Levels of this stem's unambiguous hits, against which ambiguous ones are judged."""

    bands: np.ndarray  # per band, see band_reference
    cymbal_tail_db: float  # median tail of clear cymbal hits; +inf when there are none


def _features(power: np.ndarray, t: int, next_t: int) -> OnsetFeatures:
    n = power.shape[1]
    lo, hi = max(0, t + BEFORE[0]), max(1, t + BEFORE[1])
    before = power[:, lo:hi].mean(axis=1) if hi > lo else np.zeros(power.shape[0])
    peak = power[:, t : min(n, t + AFTER)].max(axis=1)
    added = 10 * np.log10(np.clip(peak - before, 1e-12, None))
    ring_end = min(n, t + RING[1], max(next_t, t + RING[0] + 1))
    ring_start = min(t + RING[0], ring_end - 1)
    # ring of what this hit ADDED: a cymbal still ringing from an earlier hit is in ``before`` too
    ring = power[MID, ring_start:ring_end] - before[MID]
    tail = 10 * np.log10(max(ring.mean(), 1e-12))
    half = max(1, ring.size // 2)
    slope = 10 * np.log10(
        max(ring[half:].mean() if ring.size > 1 else 0.0, 1e-12) / max(ring[:half].mean(), 1e-12)
    )
    level = 10 * np.log10(peak + 1e-12)
    return OnsetFeatures(t, added, level, float(tail - added[MID]), float(tail), float(slope))


def _bright(f: OnsetFeatures, ref: StemReference, settings: DrumSettings) -> bool:
    """Cymbal wash lives in the mid band; a hit that added little there has no ring worth measuring."""
    usual_mid = f.added[MID] - ref.bands[MID]
    return bool(
        f.added[MID] >= f.added.max() - settings.cymbal_margin_db or usual_mid >= -settings.hat_level_db
    )


def _clear_cymbal(f: OnsetFeatures, ref: StemReference, settings: DrumSettings) -> bool:
    return _bright(f, ref, settings) and f.ring_db >= settings.cymbal_ring_db


def classify(f: OnsetFeatures, ref: StemReference, settings: DrumSettings) -> list[int]:
    """GM notes for one onset.

    Kick: the 30-120 Hz band gains about as much as the loudest band. Snare: the body band leads and
    the kick band is well below it. Cymbal: the mid band still rings 58-174 ms later (hats and
    snares have dropped by 12-17 dB, cymbals by 1-5 dB), or, under a louder kick or snare that
    hides that ratio, what rings is as loud as this stem's clear cymbals and does not decay within
    the window (a snare's tail falls ~8 dB from its first half to its second); crash when the wash (mid)
    leads, ride when the shimmer (high) does. Hi-hat: the top band gains nearly as much as the
    loudest band, or (without a snare, whose wires reach the top band too) as much as this stem's
    usual hi-hat.
    """
    hits = []
    added, top = f.added, float(f.added.max())
    if added[LOW] >= top - settings.kick_margin_db:
        hits.append(KICK)
    if added[BODY] >= top - settings.snare_margin_db and added[LOW] <= added[BODY] - settings.snare_low_db:
        hits.append(SNARE)
    rings_like_cymbal = (
        f.tail_db >= ref.cymbal_tail_db - settings.cymbal_tail_margin_db
        and f.slope_db >= settings.cymbal_slope_db
    )
    if _bright(f, ref, settings) and (f.ring_db >= settings.cymbal_ring_db or (hits and rings_like_cymbal)):
        hits.append(CRASH if added[MID] >= added[HIGH] - 3.0 else RIDE)
    elif added[HIGH] >= top - settings.high_margin_db or (
        SNARE not in hits and added[HIGH] - ref.bands[HIGH] >= -settings.hat_level_db
    ):
        hits.append(HIHAT)
    return hits


def band_reference(added: np.ndarray, settings: DrumSettings) -> np.ndarray:
    """Per band, this stem's typical level (dB) of the hits that band leads: the 90th percentile
    over onsets where the band is within ``high_margin_db`` of the loudest band, so one accent
    does not set the scale. +inf (the rule is off) for a band that never leads."""
    out = np.full(added.shape[1], np.inf)
    leading = added >= added.max(axis=1, keepdims=True) - settings.high_margin_db
    for band in range(added.shape[1]):
        if leading[:, band].any():
            out[band] = np.percentile(added[leading[:, band], band], 90)
    return out


def stem_reference(feats: list[OnsetFeatures], settings: DrumSettings) -> StemReference:
    partial = StemReference(band_reference(np.array([f.added for f in feats]), settings), np.inf)
    tails = [f.tail_db for f in feats if _clear_cymbal(f, partial, settings)]
    return StemReference(partial.bands, float(np.median(tails)) if tails else np.inf)


def _velocity(strength_db: float, loudest_db: float) -> int:
    """Velocity from onset strength: 40 dB below the stem's loudest hit maps to 1, the loudest to 127."""
    return int(np.clip(round(127 * (1 + (strength_db - loudest_db) / 40.0)), 1, 127))


def transcribe_drums(
    audio: Audio | Signal, settings: TranscriptionSettings, drum: DrumSettings | None = None
) -> tuple[Note, ...]:
    """GM percussion notes (channel 10 is the writer's business) of one drum stem."""
    drum = drum or DrumSettings()
    power = band_power(audio)
    frames = onset_frames(power, drum)
    if frames.size == 0:
        return ()
    hop_s = HOP / SAMPLE_RATE
    feats = [_features(power, t, int(n)) for t, n in zip(frames, np.append(frames[1:], power.shape[1]))]
    loudest = max(float(f.level.max()) for f in feats)
    reference = stem_reference(feats, drum)
    notes = []
    for f in feats:
        start = float(f.frame * hop_s + DETECTION_DELAY_S)
        velocity = _velocity(float(f.level.max()), loudest)
        notes += [
            Note(start, start + HIT_LENGTH_S, pitch, velocity) for pitch in classify(f, reference, drum)
        ]
    return without_overlaps(notes)  # hits of one drum closer than HIT_LENGTH_S end at the next one
