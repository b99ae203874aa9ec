"""Chroma features of a melody, as MusicGen-melody is conditioned on them, without torchaudio.

This reproduces ``transformers.MusicgenMelodyFeatureExtractor`` (itself audiocraft's
``ChromaExtractor`` with ``argmax=True``): a Hann-window power STFT (n_fft 16384, hop 4096 at 32 kHz,
centered with reflect padding, window-normalised as torchaudio's ``normalized=True``), librosa's chroma
filter bank (tuning 0, 12 bins, C first), per-frame max-normalisation, then one-hot on the strongest
pitch class. ``tests/stems/musicgen/test_chroma.py`` checks it against the transformers feature extractor itself.
"""

from __future__ import annotations

import numpy as np

from stems.audio import Audio, convert_audio
from stems.musicgen.plan import MUSICGEN_WINDOW_S

# audiocraft ChromaStemConditioner / transformers MusicgenMelodyFeatureExtractor defaults.
CHROMA_SAMPLE_RATE = 32_000
N_FFT = 2**14
HOP = N_FFT // 4
NUM_CHROMA = 12
NORM_EPS = 1e-6  # torch.nn.functional.normalize default eps used by the extractor


def _hz_to_octs(freqs: np.ndarray, bins_per_octave: int) -> np.ndarray:
    # Octaves above C0 = A440 / 16 (librosa.hz_to_octs with tuning 0).
    return np.log2(freqs / (440.0 / 16))


def chroma_filter_bank(sample_rate: int, n_fft: int, num_chroma: int = NUM_CHROMA) -> np.ndarray:
    """librosa.filters.chroma (Ellis' chromagram_E): Gaussian bumps per pitch class, octave-weighted.

    Returns ``(num_chroma, n_fft // 2 + 1)``; row 0 is C. Constants (centre octave 5, octave width 2,
    1.5-octave floor for the DC bin) are librosa's defaults, which audiocraft and transformers use.
    """
    freqs = np.linspace(0, sample_rate, n_fft, endpoint=False)[1:]
    bins = num_chroma * _hz_to_octs(freqs, num_chroma)
    bins = np.concatenate(([bins[0] - 1.5 * num_chroma], bins))
    widths = np.concatenate((np.maximum(bins[1:] - bins[:-1], 1.0), [1.0]))
    dist = np.subtract.outer(bins, np.arange(num_chroma, dtype=np.float64)).T
    half = np.round(num_chroma / 2)
    dist = np.remainder(dist + half + 10 * num_chroma, num_chroma) - half
    weights = np.exp(-0.5 * (2 * dist / np.tile(widths, (num_chroma, 1))) ** 2)
    norms = np.sqrt((weights**2).sum(axis=0, keepdims=True))
    weights = weights / np.where(norms < np.finfo(np.float64).tiny, 1.0, norms)
    weights *= np.tile(np.exp(-0.5 * (((bins / num_chroma - 5.0) / 2.0) ** 2)), (num_chroma, 1))
    weights = np.roll(weights, -3 * (num_chroma // 12), axis=0)  # start at C, not A
    return np.ascontiguousarray(weights[:, : n_fft // 2 + 1])


_FILTERS: dict[tuple[int, int], np.ndarray] = {}


def _filters(sample_rate: int, n_fft: int) -> np.ndarray:
    key = (sample_rate, n_fft)
    if key not in _FILTERS:
        _FILTERS[key] = chroma_filter_bank(sample_rate, n_fft)
    return _FILTERS[key]


def power_spectrogram(x: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """``|STFT|^2 / sum(window^2)`` of a 1-D signal, frames ``1 + len // hop``: torchaudio's Spectrogram
    with ``center=True, pad_mode='reflect', normalized=True, power=2`` and a periodic Hann window."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    padded = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    spec = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    return (spec / np.sum(window**2)).T  # (freq, frames)


def chroma_raw(samples: np.ndarray, sample_rate: int = CHROMA_SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Max-normalised chroma ``(frames, 12)`` of a mono 1-D signal (before the one-hot step)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"chroma expects a 1-D mono signal, got shape {x.shape}")
    if len(x) < n_fft:  # the extractor centres short signals in one FFT window of zeros
        pad = n_fft - len(x)
        x = np.pad(x, (pad // 2, pad // 2 + pad % 2))
    raw = _filters(sample_rate, n_fft) @ power_spectrogram(x, n_fft)
    peak = np.maximum(np.abs(raw).max(axis=0, keepdims=True), NORM_EPS)
    return (raw / peak).T.astype(np.float32)


def one_hot_chroma(raw: np.ndarray) -> np.ndarray:
    """One-hot on each frame's strongest pitch class (audiocraft ``argmax=True``)."""
    out = np.zeros_like(raw, dtype=np.float32)
    out[np.arange(len(raw)), raw.argmax(axis=-1)] = 1.0
    return out


def melody_chroma(audio: Audio, max_seconds: float = MUSICGEN_WINDOW_S) -> np.ndarray:
    """The model's melody condition ``(frames, 12)``: mono, 32 kHz, truncated to ``max_seconds``.

    Equals ``MusicgenMelodyFeatureExtractor()(mono_32k, sampling_rate=32000)["input_features"][0]``.
    """
    mono = convert_audio(audio, CHROMA_SAMPLE_RATE, 1).samples[0]
    mono = mono[: int(max_seconds * CHROMA_SAMPLE_RATE)]
    return one_hot_chroma(chroma_raw(mono))


def chroma_frames(seconds: float) -> int:
    """Frames the extractor yields for ``seconds`` of 32 kHz audio (235 for 30 s)."""
    return 1 + round(seconds * CHROMA_SAMPLE_RATE) // HOP


def pitch_classes(raw: np.ndarray, threshold: float = 0.5) -> set[int]:
    """Pitch classes (0 = C) whose average normalised chroma exceeds ``threshold``: a chord's notes."""
    mean = raw.mean(axis=0)
    return {int(i) for i in np.flatnonzero(mean / max(mean.max(), NORM_EPS) > threshold)}
