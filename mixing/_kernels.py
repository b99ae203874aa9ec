"""Compiled inner loops (numba): true-peak interpolation, the limiter's release, K-weighted power.

Importing this module imports numba, so the rest of ``mixing`` imports it inside the functions that
need it (``--help`` and schema validation stay fast). Kernels are module-level functions compiled with
``cache=True``: only the very first run on a machine pays the compile time (a few seconds).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True, nogil=True)
def _segment_peaks(seg: np.ndarray, taps: np.ndarray, m: int, acc: np.ndarray, peak: np.ndarray) -> None:
    """peak[i] = max(peak[i], |x(t)|) for t in [i, i + 1), seg = x[i - half : i + m + half].

    Written as contiguous slices and axpy loops so LLVM vectorises them (an index like
    ``x[o + i]`` keeps numba's negative-index wraparound and stays scalar: ~6x slower).
    """
    phases, width = taps.shape
    half = (width - 1) // 2
    mid = seg[half : half + m]
    for i in range(m):
        v = abs(mid[i])
        peak[i] = max(peak[i], v)
    for p in range(1, phases):
        acc[:m] = 0.0
        for j in range(width):
            t = taps[p, j]
            xs = seg[2 * half - j : 2 * half - j + m]
            for i in range(m):
                acc[i] += t * xs[i]
        for i in range(m):
            v = abs(acc[i])
            peak[i] = max(peak[i], v)


@numba.njit(cache=True, nogil=True)
def _interval_peaks(x: np.ndarray, taps: np.ndarray, blocks: np.ndarray, block: int) -> np.ndarray:
    """Per sample n: max |x(t)| over channels for t in [n, n + 1) at every phase (0 = the sample).

    Only the listed blocks of ``block`` samples are evaluated; the others stay 0.
    """
    channels, n = x.shape
    half = (taps.shape[1] - 1) // 2
    out = np.zeros(n, dtype=np.float32)
    acc = np.empty(block, dtype=np.float32)
    padded = np.zeros(block + 2 * half, dtype=np.float32)
    for b in blocks:
        start = b * block
        stop = min(start + block, n)
        m = stop - start
        peak = out[start:stop]
        for c in range(channels):
            if start - half >= 0 and stop + half <= n:
                _segment_peaks(x[c, start - half : stop + half], taps, m, acc, peak)
            else:  # the signal's edges: zeros outside it
                padded[:] = 0.0
                lo = max(start - half, 0)
                hi = min(stop + half, n)
                padded[lo - start + half : hi - start + half] = x[c, lo:hi]
                _segment_peaks(padded, taps, m, acc, peak)
    return out


@numba.njit(cache=True, nogil=True)
def _release(gain: np.ndarray, coef: float) -> np.ndarray:
    """Instant attack, one-pole release towards unity: r[n] = min(g[n], 1 - (1 - r[n-1]) * coef)."""
    out = np.empty_like(gain)
    prev = np.float32(1.0)
    c = np.float32(coef)
    for i in range(gain.shape[0]):
        rel = np.float32(1.0) - (np.float32(1.0) - prev) * c
        prev = min(rel, gain[i])
        out[i] = prev
    return out


@numba.njit(cache=True, nogil=True)
def _weighted_power(x: np.ndarray, sos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c w_c * (cascade of biquads applied to x[c])^2 per sample (direct form II transposed).

    All channels advance in one loop: their recursions are independent, so the CPU overlaps them.
    The state is float64 (the 38 Hz high-pass has poles within 0.01 of the unit circle).
    """
    channels, n = x.shape
    sections = sos.shape[0]
    state = np.zeros((channels, sections, 2))
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        total = 0.0
        for c in range(channels):
            v = np.float64(x[c, i])
            for s in range(sections):
                y = sos[s, 0] * v + state[c, s, 0]
                state[c, s, 0] = sos[s, 1] * v - sos[s, 4] * y + state[c, s, 1]
                state[c, s, 1] = sos[s, 2] * v - sos[s, 5] * y
                v = y
            total += weights[c] * v * v
        out[i] = total
    return out


def interval_peaks(x: np.ndarray, taps: np.ndarray, blocks: np.ndarray, block: int) -> np.ndarray:
    return _interval_peaks(
        np.ascontiguousarray(x, dtype=np.float32), taps, blocks.astype(np.int64), int(block)
    )


def release(gain: np.ndarray, coef: float) -> np.ndarray:
    return _release(np.ascontiguousarray(gain, dtype=np.float32), float(coef))


def weighted_power(x: np.ndarray, sos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return _weighted_power(
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(sos, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
    )
