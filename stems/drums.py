"""Drum transcription: onset detection, then classification of each onset by spectral band.

Pitched transcription is meaningless for drums, so a drum stem is split into onsets (band-wise
spectral flux, in the spirit of Klapuri 1999 "Sound onset detection by applying psychoacoustic
knowledge") and each onset gets one or more General MIDI percussion notes (GM Level 1 key map):
kick 36, snare 38, closed hi-hat 42, crash 49 / ride 51. The decision uses the power ADDED at the
onset in four bands (so a hi-hat on top of a kick is still seen) and how long the top band rings
(cymbals ring, hats are choked). Velocity follows onset strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stems.audio import Audio, convert_audio
from stems.midi import Note
from stems.transcribe_settings import TranscriptionSettings

KICK, SNARE, HIHAT, CRASH, RIDE = 36, 38, 42, 49, 51
SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 128  # 5.8 ms frames: fine enough for the 50 ms onset tolerance of MIREX
# Bands (Hz): kick fundamentals; snare/tom body; snare wires and cymbal wash; hats and cymbal shimmer.
BANDS = ((30.0, 120.0), (120.0, 400.0), (400.0, 4000.0), (4000.0, 11000.0))
LOW, BODY, MID, HIGH = range(4)
BEFORE = (-8, -3)  # frames averaged as the level before an onset
AFTER = 8  # frames (46 ms) searched for the peak after an onset: the window reaches a hit early
MIN_GAP_S = 0.03  # two hits of one class closer than this are one hit (flams are written as one)
HIT_LENGTH_S = 0.1  # GM drum notes carry no duration; a short fixed length keeps DAWs happy
RING = (10, 30)  # frames 58-174 ms after the onset: hats and snares have died by then, cymbals not
FLOOR_DB = -35.0  # a band rising while more than this below its loudest level is not a hit
# The centred 46 ms STFT frame sees a hit before it happens: the flux peaks ~18 ms early (measured on
# clicks, synthetic kits and FluidR3 GM drums), so onsets are moved by this much.
DETECTION_DELAY_S = 0.018  # onsets weaker than this below the stem's strongest are noise


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


def band_power(audio: Audio) -> np.ndarray:
    """Power per band and frame, shape (4, frames), from a Hann STFT of the mono 22050 Hz signal."""
    from scipy.signal import stft

    mono = convert_audio(audio, SAMPLE_RATE, 1).samples[0]
    freqs, _, spec = stft(mono, fs=SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary="even")
    power = np.abs(spec) ** 2
    return np.stack([power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in BANDS])


def onset_frames(power: np.ndarray, settings: DrumSettings) -> np.ndarray:
    """Frames where the summed band flux (log rise over the recent past) peaks."""
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


def _features(power: np.ndarray, t: int, next_t: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Added power per band (dB), peak level per band (dB) and the mid band's ring (dB)."""
    n = power.shape[1]
    lo, hi = max(0, t + BEFORE[0]), max(1, t + BEFORE[1])
    before = power[:, lo:hi].mean(axis=1) if hi > lo else np.zeros(power.shape[0])
    peak = power[:, t : min(n, t + AFTER)].max(axis=1)
    added = 10 * np.log10(np.clip(peak - before, 1e-12, None))
    ring_end = min(n, t + RING[1], max(next_t, t + RING[0] + 1))
    ring_start = min(t + RING[0], ring_end - 1)
    # ring of what this hit ADDED: a cymbal still ringing from an earlier hit is in ``before`` too
    band = MID
    tail = max(power[band, ring_start:ring_end].mean() - before[band], 1e-12)
    ring = 10 * np.log10(tail) - 10 * np.log10(max(peak[band] - before[band], 1e-12))
    return added, 10 * np.log10(peak + 1e-12), float(ring)


def classify(added: np.ndarray, ring_db: float, reference: np.ndarray, settings: DrumSettings) -> list[int]:
    """GM notes for one onset from the added band powers (dB), the mid band's ring (dB) and each
    band's reference level in this stem (dB, :func:`band_reference`).

    Kick: the 30-120 Hz band gains about as much as the loudest band. Snare: the body band leads and
    the kick band is well below it. Cymbal: the mid band still rings ~70 ms later (hats and snares
    have dropped by 12-17 dB, cymbals by 1-5 dB); crash when the wash (mid) leads, ride when the
    shimmer (high) does. Hi-hat: the top band gains nearly as much as the loudest band, or (without a
    snare, whose wires reach the top band too) as much as this stem's usual hi-hat.
    """
    hits = []
    top = float(added.max())
    usual = added - reference  # 0 dB: as strong in this band as this stem's typical strong hit
    if added[LOW] >= top - settings.kick_margin_db:
        hits.append(KICK)
    if added[BODY] >= top - settings.snare_margin_db and added[LOW] <= added[BODY] - settings.snare_low_db:
        hits.append(SNARE)
    # cymbal wash lives in the mid band; a hit that added nothing there has no ring to measure
    bright = added[MID] >= top - settings.cymbal_margin_db or usual[MID] >= -settings.hat_level_db
    if bright and ring_db >= settings.cymbal_ring_db:
        hits.append(CRASH if added[MID] >= added[HIGH] - 3.0 else RIDE)
    elif added[HIGH] >= top - settings.high_margin_db or (
        SNARE not in hits and usual[HIGH] >= -settings.hat_level_db
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


def _velocity(strength_db: float, loudest_db: float) -> int:
    """Velocity from onset strength: 40 dB below the stem's loudest hit maps to 1, the loudest to 127."""
    return int(np.clip(round(127 * (1 + (strength_db - loudest_db) / 40.0)), 1, 127))


def transcribe_drums(
    audio: Audio, settings: TranscriptionSettings, drum: DrumSettings | None = None
) -> tuple[Note, ...]:
    """GM percussion notes (channel 10 is the writer's business) of one drum stem."""
    drum = drum or DrumSettings()
    power = band_power(audio)
    frames = onset_frames(power, drum)
    if frames.size == 0:
        return ()
    hop_s = HOP / SAMPLE_RATE
    feats = [_features(power, t, int(n)) for t, n in zip(frames, np.append(frames[1:], power.shape[1]))]
    loudest = max(float(level.max()) for _, level, _ in feats)
    reference = band_reference(np.array([added for added, _, _ in feats]), drum)
    notes = []
    for t, (added, level, ring) in zip(frames, feats):
        start = float(t * hop_s + DETECTION_DELAY_S)
        for pitch in classify(added, ring, reference, drum):
            notes.append(Note(start, start + HIT_LENGTH_S, pitch, _velocity(float(level.max()), loudest)))
    return tuple(sorted(notes, key=lambda n: (n.start, n.pitch)))
