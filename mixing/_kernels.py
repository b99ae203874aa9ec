"""Compiled inner loops (numba): true-peak interpolation, the limiter's gain curve, K-weighted power.

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
def _block_abs_max(x: np.ndarray, block: int) -> np.ndarray:
    """Largest |sample| over all channels in each block of ``block`` samples (no temporary |x| array)."""
    channels, n = x.shape
    nblocks = (n + block - 1) // block
    out = np.zeros(nblocks, dtype=np.float32)
    for c in range(channels):
        for b in range(nblocks):
            peak = out[b]
            for i in range(b * block, min(n, (b + 1) * block)):
                v = abs(x[c, i])
                peak = v if v > peak else peak
            out[b] = peak
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _required(peaks: np.ndarray, scale: float, ceiling: float, length: int) -> np.ndarray:
    """Gain each sample needs, padded with ``length`` ones (past the end nothing needs limiting).

    Both ends of an interval carry its peak, since the gain is applied at the samples. A branch-free
    float32 loop, so LLVM vectorises the division.
    """
    n = peaks.shape[0]
    threshold = np.float32(ceiling / scale)  # peaks above this (before the gain) need limiting
    req = np.ones(n + length, dtype=np.float32)
    if n == 0:
        return req
    req[0] = min(np.float32(1.0), threshold / peaks[0]) if peaks[0] > 0 else np.float32(1.0)
    for i in range(1, n):
        p = max(peaks[i], peaks[i - 1])
        req[i] = min(np.float32(1.0), threshold / max(p, np.float32(1e-30)))
    return req


@numba.njit(cache=True, nogil=True)
def _limiter_curve(peaks: np.ndarray, scale: float, ceiling: float, length: int, coef: float) -> np.ndarray:
    """The limiter's gain curve (see mixing.limiter): required gain, look-ahead hold, release, average.

    The hold is a forward running minimum by van Herk / Gil-Werman (block prefix and suffix minima:
    O(n) for any window); release and moving average share the last pass. Comparisons are written out
    because numba's min() also handles NaN and is ~3x slower.
    """
    n = peaks.shape[0]
    total = n + length
    prefix = np.empty(total, dtype=np.float32)
    suffix = np.empty(total, dtype=np.float32)
    req = _required(peaks, scale, ceiling, length)
    for start in range(0, total, length):
        stop = min(start + length, total)
        low = np.float32(1.0)
        for i in range(start, stop):
            v = req[i]
            low = v if v < low else low
            prefix[i] = low
        low = np.float32(1.0)
        for i in range(stop - 1, start - 1, -1):
            v = req[i]
            low = v if v < low else low
            suffix[i] = low
    out = np.empty(n, dtype=np.float32)
    ring = np.empty(length, dtype=np.float64)  # the last `length` released values
    level = np.float32(1.0)
    c = np.float32(coef)
    running = 0.0
    slot = 0
    for i in range(n):
        a = suffix[i]
        b = prefix[i + length - 1]
        hold = a if a < b else b
        rising = np.float32(1.0) - (np.float32(1.0) - level) * c
        level = hold if hold < rising else rising
        if i == 0:  # before the start the curve sits at the first held value, so early peaks hold too
            ring[:] = level
            running = np.float64(level) * length
        running += level - ring[slot]
        ring[slot] = level
        slot = slot + 1 if slot + 1 < length else 0
        v = running / length
        out[i] = v if v < 1.0 else 1.0
    return out


@numba.njit(cache=True, nogil=True)
def _curve_hops(power: np.ndarray, curve: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Energy of power * curve^2 between consecutive ``edges`` (the master's loudness prediction)."""
    out = np.zeros(edges.shape[0] - 1)
    for k in range(edges.shape[0] - 1):
        acc = 0.0
        for i in range(edges[k], edges[k + 1]):
            acc += power[i] * curve[i] * curve[i]
        out[k] = acc
    return out


@numba.njit(cache=True, nogil=True)
def _weighted_power(x: np.ndarray, sos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c w_c * (two biquads applied to x[c])^2 per sample (direct form II transposed).

    The state lives in scalars (registers) and both channels advance in one loop, so their independent
    recursions overlap; float64 state (the 38 Hz high-pass has poles within 0.01 of the unit circle).
    """
    channels, n = x.shape
    out = np.zeros(n, dtype=np.float32)
    b0, b1, b2, a1, a2 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    c0, c1, c2, d1, d2 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    for first in range(0, channels, 2):
        pair = min(2, channels - first)
        u1 = u2 = v1 = v2 = 0.0  # channel A: shelf, high-pass states
        p1 = p2 = q1 = q2 = 0.0  # channel B
        wa = weights[first]
        wb = weights[first + 1] if pair == 2 else 0.0
        xa = x[first]
        xb = x[first + 1] if pair == 2 else x[first]
        for i in range(n):
            s = np.float64(xa[i])
            y = b0 * s + u1
            u1 = b1 * s - a1 * y + u2
            u2 = b2 * s - a2 * y
            z = c0 * y + v1
            v1 = c1 * y - d1 * z + v2
            v2 = c2 * y - d2 * z
            t = np.float64(xb[i])
            y = b0 * t + p1
            p1 = b1 * t - a1 * y + p2
            p2 = b2 * t - a2 * y
            w = c0 * y + q1
            q1 = c1 * y - d1 * w + q2
            q2 = c2 * y - d2 * w
            out[i] += wa * z * z + wb * w * w
    return out


def interval_peaks(x: np.ndarray, taps: np.ndarray, blocks: np.ndarray, block: int) -> np.ndarray:
    return _interval_peaks(
        np.ascontiguousarray(x, dtype=np.float32), taps, blocks.astype(np.int64), int(block)
    )


def block_abs_max(x: np.ndarray, block: int) -> np.ndarray:
    return _block_abs_max(np.ascontiguousarray(x, dtype=np.float32), int(block))


def limiter_curve(peaks: np.ndarray, scale: float, ceiling: float, length: int, coef: float) -> np.ndarray:
    assert length >= 1 and ceiling > 0.0
    return _limiter_curve(np.ascontiguousarray(peaks, dtype=np.float32), scale, ceiling, int(length), coef)


def curve_hops(power: np.ndarray, curve: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _curve_hops(power, np.ascontiguousarray(curve, dtype=np.float32), edges.astype(np.int64))


def weighted_power(x: np.ndarray, sos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    assert sos.shape == (2, 6) and weights.shape == (x.shape[0],)
    return _weighted_power(
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(sos, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
    )
