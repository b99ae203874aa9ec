"""The analysis's spectral features of a long signal, computed a chunk of frames at a time.

librosa computes a feature over the whole signal at once: 20 minutes of mono at 22.05 kHz make an STFT of
1025 x 103,000 complex64 (850 MB) for ``chroma_stft``, and a 2.9-hour file one of 6.8 GiB (issue 22). Every
feature here is frame-local up to one global step (a maximum, a median), so it is computed over chunks of
frames whose STFT is a few tens of MB, kept in its reduced form (mel bands, chroma, CQT magnitudes: a few
hundred bytes a frame), and the global step is taken once at the end with librosa's own code.

STFT chunks are exact: frame ``t`` of a centred STFT is the window at ``y[t * hop - n_fft // 2:]``, so a
chunk's frames are read with their own span and zero padding only outside the signal, as librosa pads.
The CQT (librosa resamples the signal octave by octave) is computed over each chunk with ``CQT_MARGIN_S``
of signal either side, which its longest filter and the resamplers' reach stay well inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from stems.streaming import Signal

# Complex STFT values per chunk: 2M (16 MB) makes 2048 frames of a 2048-point STFT; piptrack then holds
# about six float32 arrays of that shape, so a chunk costs under 100 MB whatever the signal's length.
CHUNK_VALUES = 1 << 21
# Signal taken either side of a CQT chunk. The longest CQT filter (C1 at 22.05 kHz, 12 bins an octave)
# reaches 0.26 s either side of its frame; resampling to the lowest octave's rate adds well under 1 s.
CQT_MARGIN_S = 4.0
CQT_CHUNK_S = 60.0
_TOP_DB = 80.0  # librosa.power_to_db's default floor under the maximum, which onset_strength uses


def frame_count(length: int, hop: int) -> int:
    """Frames of a centred STFT (librosa's ``center=True``) of ``length`` samples."""
    return 1 + length // hop


def stft_chunks(signal: Signal, n_fft: int, hop: int) -> Iterator[np.ndarray]:
    """``librosa.stft(y, n_fft=n_fft, hop_length=hop)`` (centred, zero padded), a chunk of frames at a time."""
    import librosa

    total = frame_count(signal.length, hop)
    step = max(1, CHUNK_VALUES // (n_fft // 2 + 1))
    for first in range(0, total, step):
        stop = min(first + step, total)
        start = first * hop - n_fft // 2
        segment = signal.segment(start, start + (stop - 1 - first) * hop + n_fft)
        yield librosa.stft(segment, n_fft=n_fft, hop_length=hop, center=False)


def power_chunks(signal: Signal, n_fft: int, hop: int) -> Iterator[np.ndarray]:
    for spectrum in stft_chunks(signal, n_fft, hop):
        yield np.abs(spectrum) ** 2


def frames(chunks: Iterator[np.ndarray]) -> np.ndarray:
    """Per-chunk features (``(bins, frames)`` each) joined along time."""
    return np.concatenate(list(chunks), axis=-1)


def mel_power(signal: Signal, n_fft: int, hop: int, **mel: Any) -> np.ndarray:
    """``librosa.feature.melspectrogram(y=..., n_fft=n_fft, hop_length=hop, **mel)``."""
    import librosa

    sr = signal.sample_rate
    return frames(librosa.feature.melspectrogram(S=p, sr=sr, **mel) for p in power_chunks(signal, n_fft, hop))


def onset_strength(
    mel_chunks: Callable[[], Iterator[np.ndarray]], sr: int, hop: int, n_fft: int
) -> np.ndarray:
    """``librosa.onset.onset_strength(S=librosa.power_to_db(mel), ...)`` of a mel spectrogram given as
    chunks of frames (``mel_chunks()`` yields them afresh each time it is called). ``power_to_db`` floors
    every value 80 dB under the spectrogram's maximum, so a first pass finds that maximum; the second
    takes each chunk's rises against the frame before it (the one before the chunk carried over; silence
    before the first) with librosa's own onset function and lays them where librosa does, after
    ``n_fft // (2 * hop)`` frames of zeros. librosa's own rise into the first frame is 0, so music that starts
    at 0 s, as a stem conformed to the grid does, had no onset there."""
    import librosa

    top = max(float(librosa.power_to_db(mel, top_db=None).max()) for mel in mel_chunks())
    parts, before = [], None
    for mel in mel_chunks():
        db = np.maximum(librosa.power_to_db(mel, top_db=None), top - _TOP_DB)
        if before is None:  # silence before the signal: a sound from its first sample is an onset at 0 s
            before = np.full((db.shape[0], 1), top - _TOP_DB, dtype=db.dtype)
        rises = librosa.onset.onset_strength(
            S=np.concatenate((before, db), axis=1), sr=sr, hop_length=hop, n_fft=n_fft, center=False
        )
        parts.append(rises[1:])  # rises[0] is librosa's padding; each later one a frame's rise
        before = db[:, -1:]
    lead = np.zeros(n_fft // (2 * hop), dtype=parts[0].dtype)
    return np.concatenate((lead, *parts))[: sum(part.size for part in parts)]


def chroma_stft(signal: Signal, hop: int, n_fft: int = 2048) -> np.ndarray:
    """``librosa.feature.chroma_stft(y=..., hop_length=hop)``: its tuning estimate first (a pass of
    :func:`stft_tuning`), then the chroma of each chunk with that tuning."""
    import librosa

    sr = signal.sample_rate
    tuning = stft_tuning(signal, n_fft, hop)
    return frames(
        librosa.feature.chroma_stft(S=p, sr=sr, tuning=tuning) for p in power_chunks(signal, n_fft, hop)
    )


def stft_tuning(signal: Signal, n_fft: int, hop: int) -> float:
    """``librosa.estimate_tuning(S=power spectrogram)``: the median magnitude of all piptrack peaks is the
    threshold, and the histogram of the peaks above it gives the tuning. Only the peaks are kept (pitch and
    magnitude, 8 bytes each; a few dozen a frame), never the spectrogram."""
    import librosa

    pitches, mags = [], []
    for power in power_chunks(signal, n_fft, hop):
        pitch, mag = librosa.piptrack(S=power, sr=signal.sample_rate, n_fft=n_fft)
        found = pitch > 0
        pitches.append(pitch[found])
        mags.append(mag[found])
    pitch, mag = np.concatenate(pitches), np.concatenate(mags)
    threshold = np.median(mag) if mag.size else 0.0
    chosen = pitch[mag >= threshold]
    if not np.any(chosen > 0):  # no peak at all (silence, noise only): librosa warns and says 0
        return 0.0
    return float(librosa.pitch_tuning(chosen, bins_per_octave=12))


def cqt_frames(signal: Signal, hop: int, feature: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``feature(y)`` (a CQT-based ``(bins, frames)`` array, frame ``t`` centred at ``y[t * hop]``) of the
    whole signal, computed over ``CQT_CHUNK_S`` at a time with ``CQT_MARGIN_S`` of signal either side.

    Each chunk starts on a multiple of ``hop`` (a power of two at least the CQT's downsampling factor), so
    its frames and its octaves' samples fall on the whole signal's grid; the first and last chunks end where
    the signal does, so its edges are treated as librosa treats them."""
    sr, length = signal.sample_rate, signal.length
    total = frame_count(length, hop)
    step = max(1, round(CQT_CHUNK_S * sr / hop))
    margin = math.ceil(CQT_MARGIN_S * sr / hop)
    parts = []
    for first in range(0, total, step):
        stop = min(first + step, total)
        lo = max(first - margin, 0)
        hi = min((stop + margin) * hop, length)
        out = feature(signal.segment(lo * hop, hi))
        parts.append(out[:, first - lo : stop - lo])
    joined = np.concatenate(parts, axis=-1)
    assert joined.shape[-1] == total, (joined.shape, total)
    return joined


def mean_tempogram(env: np.ndarray, sr: int, hop: int, ac_size: float = 8.0) -> np.ndarray:
    """``librosa.feature.tempogram(onset_envelope=env, ...)`` averaged over time, shaped ``(lags, 1)``: what
    ``librosa.feature.tempo`` takes as ``tg``. The tempogram is ``lags x frames`` (689 lags: 8 s) and its
    autocorrelation works on twice that in complex numbers: 3.4 GB for 20 minutes at once, so its frames
    are computed a chunk at a time from the envelope padded as librosa pads it, and summed."""
    import librosa

    win = int(librosa.time_to_frames(ac_size, sr=sr, hop_length=hop))
    padded = np.pad(env, (win // 2, win // 2), mode="linear_ramp", end_values=(0, 0))
    total = np.zeros(win)
    step = max(1, CHUNK_VALUES // win)
    for first in range(0, env.size, step):
        stop = min(first + step, env.size)
        part = padded[first : stop + win - 1]
        grams = librosa.feature.tempogram(
            onset_envelope=part, sr=sr, hop_length=hop, win_length=win, center=False
        )
        total += grams.sum(axis=-1, dtype=np.float64)
    return (total / max(env.size, 1))[:, None]


def mean_square(signal: Signal, step: int = 1 << 22) -> float:
    """Mean of the squared samples (float64 sums over segments)."""
    if signal.length == 0:
        return 0.0
    total = 0.0
    for start in range(0, signal.length, step):
        piece = signal.segment(start, min(start + step, signal.length))
        total += float(np.sum(np.square(piece, dtype=np.float64)))
    return total / signal.length
