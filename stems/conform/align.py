"""Align audio to the notes it was asked to play: where each score onset sounds in the audio (pure numpy).

A steady beat is not needed, so bowed strings and pads, which the beat tracker cannot follow, are placed too.
The method is the Sync Toolbox's (Müller et al., AudioLabs Erlangen; ``synctoolbox``, MIT), rewritten on what
this project already has rather than installed:

- features at ``FEATURE_RATE`` frames a second: chroma (energy per pitch class, log-compressed, unit length)
  and DLNCO onsets (Ewert, Müller and Grosche 2009: per pitch class, the rises of log pitch energy, locally
  normalised, with a decaying tail). The score's are made from its notes: a note is its pitch class while it
  sounds, and an onset impulse with the same tail;
- cost: cosine distance of the chromas plus ``ONSET_WEIGHT`` x the euclidean distance of the onset features;
- multiscale DTW: a full DTW at ``COARSE_CELLS`` cells at most, then the full-rate DTW inside a band of
  ``BAND_S`` around that path. Each row's DTW is a few numpy calls: with unit step weights the horizontal
  recursion ``D[j] = c[j] + min(a[j], D[j - 1])`` is a running minimum of ``a - cumsum(c)`` shifted back;
- anchors: each score onset's first audio frame on the path. Runs of anchors whose tempo ratio stays within
  ``MAX_RATIO`` are stretches that match; the longest chain of stretches that agree with each other is kept,
  and the audio outside it follows the local tempo (what ``unmatched`` lists).

Why not synctoolbox itself: 1.4.2 pins ``music21 < 10`` and ``numba < 0.66`` (we run 10.5 and 0.68), and its
``libfmp`` imports IPython and pandas at import time for plotting; it would downgrade music21 and add two
heavy packages for about 300 lines of DTW and features, which are here, streamed (memory bounded by the
frames' 24 floats, not the samples) and measured by ``bench/conform.py --score``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stems.streaming import Signal
from stems.transcription.midi import Note

FEATURE_RATE = (
    50  # frames a second (20 ms), as the Sync Toolbox's; 100 put 0.52 of SCORE_PIECES' notes within 50 ms
)
N_FFT = 4096  # at 22.05 kHz: 5.4 Hz bins, a semitone apart from about 90 Hz (F#2) up
LOW_PITCH, HIGH_PITCH = 24, 108  # MIDI pitches the audio's energy is read at (C1..C8)
PAD_S = 1.0  # silence added before and after both sequences, so a lead-in or a tail is silence matched
COARSE_CELLS = 4_000_000  # the coarse DTW's matrix at most (16 MB of float32 cost + 4 MB of steps)
BAND_S = 0.5  # the fine DTW looks this far either side of the coarse path, and at least one coarse frame
ONSET_WEIGHT = 1.0  # the onset features' distance against the chroma's, in the cost (0.5 and 2: no better)
DECAY_FRAMES = (
    10  # the onset features' tail (200 ms), as the Sync Toolbox's DLNCO (5: 0.745, 20: 0.752 within 50 ms)
)
LOCAL_NORM_S = 1.5  # the window whose largest rise an onset rise is divided by (0.5 s: 0.755, 3 s: 0.747)
# log(1 + gamma x energy) of energy scaled to its 99th percentile. On the score tuning pieces (SCORE_PIECES) the
# time map put 0.76 of the played notes within 50 ms with 1000, 0.69 with 100, 0.58 with 10, 0.67 with 1e4.
LOG_GAMMA = 1000.0
MAX_RATIO = 3.0  # two anchors whose time ratio (score over audio) is beyond this or its inverse do not match
# Onsets closer than this in the score give one anchor: fewer, steadier stretches (SCORE_PIECES: 0.25 s 0.69 of
# the played notes within 50 ms, 0.5 s 0.70, 1 s 0.70; a sparser map transcribes better, bench/conform.py).
MIN_ANCHOR_GAP_S = 0.5
RATIO_WINDOW_S = 1.0  # score seconds over which an anchor's tempo ratio is taken
MIN_STRETCH_S = 1.0  # a matching stretch shorter than this (audio seconds) is not trusted on its own
TRANSPOSED = (3, 6, 9)  # semitones the part is moved by for the baseline of ``contrast`` (far from a fifth)
SILENCE = 1e-6  # frame norm under which a frame is silence (the uniform chroma, no onset)


@dataclass(frozen=True)
class Features:
    """Per frame (``FEATURE_RATE`` a second): chroma ``(12, n)`` of unit columns and onsets ``(12, n)``."""

    chroma: np.ndarray
    onsets: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.chroma.shape[1])


@dataclass(frozen=True)
class ScoreAlignment:
    """Where the score's onsets are in the audio, and what matched.

    ``audio`` and ``score`` are the kept anchors (seconds, both increasing): the score time ``score[i]`` sounds
    at ``audio[i]``. ``unmatched`` are the audio spans outside the kept stretches, which follow the local tempo.
    """

    audio: np.ndarray
    score: np.ndarray
    matched: float  # fraction of the score's anchors kept
    unmatched: tuple[tuple[float, float], ...]
    contrast: (
        float  # the path's mean cost over the part's in other keys (``TRANSPOSED``): ~0.5 its part, ~1 not
    )


# ---------------------------------------------------------------------------------------------- features


def _pitch_bank(sample_rate: int, tuning_cents: float) -> np.ndarray:
    """``(pitches, bins)``: each STFT bin's power to the pitch it is nearest (tuning taken off)."""
    freqs = np.arange(N_FFT // 2 + 1) * sample_rate / N_FFT
    with np.errstate(divide="ignore"):
        pitch = np.round(69.0 + 12.0 * np.log2(freqs / 440.0) - tuning_cents / 100.0)
    bank = np.zeros((HIGH_PITCH - LOW_PITCH + 1, freqs.size), dtype=np.float32)
    inside = np.flatnonzero((pitch >= LOW_PITCH) & (pitch <= HIGH_PITCH))
    bank[pitch[inside].astype(int) - LOW_PITCH, inside] = 1.0
    return bank


def _fold(pitch_rows: np.ndarray) -> np.ndarray:
    """``(pitches, n)`` from LOW_PITCH -> ``(12, n)`` by pitch class (C = 0)."""
    out = np.zeros((12, pitch_rows.shape[1]), dtype=np.float32)
    for row, values in enumerate(pitch_rows):
        out[(LOW_PITCH + row) % 12] += values
    return out


def _unit(chroma: np.ndarray) -> np.ndarray:
    """Columns to unit length; silent ones to the uniform chroma (silence matches silence)."""
    norm = np.linalg.norm(chroma, axis=0)
    out = np.full(chroma.shape, 1.0 / math.sqrt(12.0), dtype=np.float32)
    sounding = norm > SILENCE
    out[:, sounding] = chroma[:, sounding] / norm[sounding]
    return out


def _decay(impulses: np.ndarray) -> np.ndarray:
    """Each value followed by a tail falling to 0 over DECAY_FRAMES (the DLNCO kernel), the larger kept."""
    kernel = np.sqrt(1.0 - np.arange(DECAY_FRAMES) / DECAY_FRAMES).astype(np.float32)
    out = impulses.copy()
    for lag in range(1, DECAY_FRAMES):
        np.maximum(out[:, lag:], impulses[:, :-lag] * kernel[lag], out=out[:, lag:])
    return out


def _pad(features: np.ndarray, frames: int, value: float) -> np.ndarray:
    edge = np.full((features.shape[0], frames), value, dtype=np.float32)
    return np.concatenate((edge, features, edge), axis=1)


def _padded(chroma: np.ndarray, onsets: np.ndarray) -> Features:
    pad = round(PAD_S * FEATURE_RATE)
    return Features(_pad(chroma, pad, 1.0 / math.sqrt(12.0)), _pad(onsets, pad, 0.0))


def audio_features(signal: Signal, tuning_cents: float = 0.0) -> Features:
    """Chroma and DLNCO onsets of a mono signal, an STFT chunk at a time (``stems.conform.spectra``)."""
    from scipy.ndimage import maximum_filter1d

    from stems.conform.spectra import power_chunks

    rate = signal.sample_rate
    hop = round(rate / FEATURE_RATE)
    bank = _pitch_bank(rate, tuning_cents)
    energy = np.concatenate(
        [bank @ power.astype(np.float32) for power in power_chunks(signal, N_FFT, hop)], axis=1
    )
    scale = float(np.percentile(energy.max(axis=0), 99)) or 1.0
    logged = np.log1p(LOG_GAMMA * energy / scale)
    chroma = _fold(logged)
    rises = np.maximum(np.diff(logged, axis=1, prepend=logged[:, :1]), 0.0)
    onset = _fold(rises)
    local = maximum_filter1d(onset.max(axis=0), size=round(LOCAL_NORM_S * FEATURE_RATE), mode="nearest")
    onset = onset / np.maximum(local, 1e-3 * (float(local.max()) or 1.0))
    return _padded(_unit(chroma), _decay(onset.astype(np.float32)))


def score_features(notes: Sequence[Note], seconds: float) -> Features:
    """The same features made from ``notes`` over ``seconds``: a note's pitch class while it sounds (by its
    velocity, log-compressed as the audio's), an onset impulse of 1 at its start."""
    frames = max(1, math.ceil(seconds * FEATURE_RATE))
    chroma = np.zeros((12, frames), dtype=np.float32)
    onsets = np.zeros((12, frames), dtype=np.float32)
    for note in notes:
        start = min(frames - 1, max(0, round(note.start * FEATURE_RATE)))
        stop = min(frames, max(start + 1, round(note.end * FEATURE_RATE)))
        chroma[note.pitch % 12, start:stop] += note.velocity / 127.0
        onsets[note.pitch % 12, start] = 1.0
    return _padded(_unit(np.log1p(LOG_GAMMA * chroma)), _decay(onsets))


# --------------------------------------------------------------------------------------------------- DTW


def _cost_rows(audio: Features, score: Features) -> _Cost:
    return _Cost(audio.chroma.T.copy(), audio.onsets.T.copy(), score.chroma.T.copy(), score.onsets.T.copy())


@dataclass(frozen=True)
class _Cost:
    """Frames as rows: the cost of audio frame ``i`` against score frames ``lo..hi``."""

    a_chroma: np.ndarray
    a_onsets: np.ndarray
    s_chroma: np.ndarray
    s_onsets: np.ndarray

    def row(self, i: int, lo: int, hi: int) -> np.ndarray:
        chroma = 1.0 - self.s_chroma[lo:hi] @ self.a_chroma[i]
        diff = self.s_onsets[lo:hi] - self.a_onsets[i]
        onset = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        return (chroma + ONSET_WEIGHT * onset).astype(np.float64)


def _dtw(cost: _Cost, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, float]:
    """DTW over rows ``i`` (audio frames) and, in each, columns ``lo[i]..hi[i]`` (score frames), from (0, 0)
    to the last cell; steps (1, 1), (1, 0), (0, 1), each adding its cell's cost. Returns the path
    ``(k, 2)`` and its mean cost per step."""
    n = len(lo)
    steps: list[np.ndarray] = []
    prev = np.empty(0)
    prev_lo = 0
    for i in range(n):
        c = cost.row(i, int(lo[i]), int(hi[i]))
        cols = np.arange(lo[i], hi[i])
        if i == 0:
            a = np.where(cols == 0, 0.0, np.inf)
            came = np.zeros(c.size, dtype=np.int8)
        else:
            vert = _at(prev, prev_lo, cols)
            diag = _at(prev, prev_lo, cols - 1)
            came = (vert < diag).astype(np.int8)  # 0: diagonal, 1: from the row before (audio advanced)
            a = np.minimum(diag, vert)
        running = np.cumsum(c)
        b = a + c - running
        best = np.minimum.accumulate(b)
        came[best < b] = 2  # from the column before (score advanced)
        prev, prev_lo = best + running, int(lo[i])
        steps.append(came)
    if hi[-1] != cost.s_chroma.shape[0] or not np.isfinite(prev[-1]):
        raise ValueError("the band does not reach the end of both sequences")
    total = float(prev[-1])
    path = [(n - 1, int(hi[-1]) - 1)]
    i, j = path[0]
    while (i, j) != (0, 0):
        step = steps[i][j - int(lo[i])]
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return np.array(path[::-1]), total / len(path)


def _at(values: np.ndarray, first: int, cols: np.ndarray) -> np.ndarray:
    """``values`` (columns ``first..``) at ``cols``, infinite outside."""
    index = cols - first
    inside = (index >= 0) & (index < values.size)
    out = np.full(cols.size, np.inf)
    out[inside] = values[index[inside]]
    return out


def _pooled(features: Features, factor: int) -> Features:
    """Means of ``factor`` frames (chroma renormalised): the coarse level."""
    n = features.frames // factor * factor

    def pool(x: np.ndarray) -> np.ndarray:
        head = x[:, :n].reshape(12, -1, factor).mean(axis=2)
        tail = x[:, n:].mean(axis=1, keepdims=True) if n < x.shape[1] else np.zeros((12, 0), np.float32)
        return np.concatenate((head, tail), axis=1).astype(np.float32)

    return Features(_unit(pool(features.chroma)), pool(features.onsets))


def warping_path(audio: Features, score: Features) -> tuple[np.ndarray, float]:
    """The multiscale DTW path ``(k, 2)`` of (audio frame, score frame) and its mean cost per step."""
    n, m = audio.frames, score.frames
    factor = max(1, math.ceil(math.sqrt(n * m / COARSE_CELLS)))
    if factor == 1:
        return _dtw(_cost_rows(audio, score), np.zeros(n, int), np.full(n, m))
    coarse_a, coarse_s = _pooled(audio, factor), _pooled(score, factor)
    rows = coarse_a.frames
    coarse, _ = _dtw(_cost_rows(coarse_a, coarse_s), np.zeros(rows, int), np.full(rows, coarse_s.frames))
    radius = max(factor, round(BAND_S * FEATURE_RATE))
    lo = np.full(n, m, dtype=int)
    hi = np.zeros(n, dtype=int)
    for ci, cj in coarse:
        r0, r1 = ci * factor, min(n, (ci + 1) * factor)
        lo[r0:r1] = np.minimum(lo[r0:r1], cj * factor - radius)
        hi[r0:r1] = np.maximum(hi[r0:r1], (cj + 1) * factor + radius)
    lo, hi = np.clip(lo, 0, m - 1), np.clip(hi, 1, m)
    lo[0], hi[-1] = 0, m
    lo = np.minimum(
        np.maximum.accumulate(lo), hi - 1
    )  # a monotone path never needs a column left of one seen
    hi = np.maximum.accumulate(hi)
    return _dtw(_cost_rows(audio, score), lo, hi)


# ----------------------------------------------------------------------------------------------- anchors


def onset_anchors(
    path: np.ndarray, notes: Sequence[Note], latency: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(audio s, score s) of each score onset: the first audio frame the path reaches the onset's frame in,
    less ``latency`` (a slow attack is recognised late: ``ALIGN_LATENCY``)."""
    pad = round(PAD_S * FEATURE_RATE)
    kept = _spaced(np.unique(np.round([n.start for n in notes], 3)))
    cols = np.clip(np.round(kept * FEATURE_RATE).astype(int) + pad, 0, int(path[-1, 1]))
    frames = path[np.searchsorted(path[:, 1], cols, side="left"), 0]
    return (frames - pad) / FEATURE_RATE - latency, kept


def _spaced(times: np.ndarray) -> np.ndarray:
    keep: list[float] = []
    for t in times:
        if not keep or t - keep[-1] >= MIN_ANCHOR_GAP_S:
            keep.append(float(t))
    return np.array(keep)


def _stretches(audio: np.ndarray, score: np.ndarray) -> list[tuple[int, int]]:
    """Runs ``[first, last]`` of anchors that match: each one's tempo ratio (score over audio) against the
    anchor RATIO_WINDOW_S of score before it stays within MAX_RATIO (one anchor's own error, some 20 ms,
    would throw the ratio to its neighbour off)."""
    good = np.ones(len(audio), dtype=bool)
    for k in range(1, len(audio)):
        j = max(0, int(np.searchsorted(score, score[k] - RATIO_WINDOW_S, side="right")) - 1)
        j = min(j, k - 1)
        da, ds = audio[k] - audio[j], score[k] - score[j]
        good[k] = da > 0 and 1.0 / MAX_RATIO <= ds / da <= MAX_RATIO
    runs: list[tuple[int, int]] = []
    for k in np.flatnonzero(good).tolist():
        if runs and runs[-1][1] == k - 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def _agree(audio: np.ndarray, score: np.ndarray, left: tuple[int, int], right: tuple[int, int]) -> bool:
    da, ds = audio[right[0]] - audio[left[1]], score[right[0]] - score[left[1]]
    return bool(da > 0 and ds > 0 and 1.0 / MAX_RATIO <= ds / da <= MAX_RATIO)


def kept_stretches(audio: np.ndarray, score: np.ndarray) -> list[tuple[int, int]]:
    """The chain of stretches, each agreeing with the next, that covers the most audio (a longest-path DP);
    stretches shorter than MIN_STRETCH_S count only where no longer one exists."""
    runs = _stretches(audio, score)
    long = [r for r in runs if audio[r[1]] - audio[r[0]] >= MIN_STRETCH_S]
    runs = long or [max(runs, key=lambda r: audio[r[1]] - audio[r[0]])]
    length = [audio[b] - audio[a] for a, b in runs]
    best, before = list(length), [-1] * len(runs)
    for q in range(len(runs)):
        for p in range(q):
            if _agree(audio, score, runs[p], runs[q]) and best[p] + length[q] > best[q]:
                best[q], before[q] = best[p] + length[q], p
    q, chain = int(np.argmax(best)), []
    while q >= 0:
        chain.append(runs[q])
        q = before[q]
    return chain[::-1]


def align(
    audio: Features, score: Features, notes: Sequence[Note], duration: float, latency: float = 0.0
) -> ScoreAlignment:
    """Align ``audio`` (``duration`` s) to ``score`` and keep the onsets' anchors that match (module docstring)."""
    path, cost = warping_path(audio, score)
    a, s = onset_anchors(path, notes, latency)
    if len(a) < 2:
        raise ValueError("the score has fewer than two onsets to align")
    chain = kept_stretches(a, s)
    keep = np.concatenate([np.arange(first, last + 1) for first, last in chain])
    keep = keep[np.concatenate(([True], np.diff(a[keep]) > 0))]  # the path may hold an audio frame
    between = [(float(a[left[1]]), float(a[right[0]])) for left, right in zip(chain, chain[1:])]
    spans = [span for span in between if span[1] - span[0] > 0]
    if chain[0][0] > 0:
        spans.insert(0, (max(0.0, float(a[0])), float(a[chain[0][0]])))
    if chain[-1][1] < len(a) - 1:
        spans.append((float(a[chain[-1][1]]), duration))
    unmatched = tuple(span for span in spans if _dropped(a, keep, span))
    return ScoreAlignment(
        a[keep], s[keep], len(keep) / len(a), unmatched, cost / _transposed_cost(audio, score)
    )


def _dropped(audio: np.ndarray, keep: np.ndarray, span: tuple[float, float]) -> bool:
    """Whether anchors were dropped inside ``span`` (a gap between kept stretches that holds none is not)."""
    inside = (audio > span[0]) & (audio < span[1])
    inside[keep] = False
    return bool(inside.any())


def _transposed_cost(audio: Features, score: Features) -> float:
    """The lowest mean path cost of the audio against the score moved by each of TRANSPOSED semitones: the same
    rhythm and texture in other pitches, what audio that does not play the part costs as much as the part."""
    costs = []
    for shift in TRANSPOSED:
        moved = Features(np.roll(score.chroma, shift, axis=0), np.roll(score.onsets, shift, axis=0))
        costs.append(warping_path(audio, moved)[1])
    return min(costs) or 1.0
