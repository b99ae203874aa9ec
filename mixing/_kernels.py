"""Compiled inner loops (numba): true-peak interpolation, the limiter's gain curve, K-weighted power.

The limiter, the K-weighting filters and the hop sums carry their state from one span of samples to the
next, so mastering a long file a block at a time gives the whole signal's values bit for bit.

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
def _required(peaks: np.ndarray, prev: float, scale: float, ceiling: float, size: int) -> np.ndarray:
    """Gain each of ``size`` samples needs, ones past the peaks given (past the end nothing needs limiting).

    Both ends of an interval carry its peak, since the gain is applied at the samples: sample i takes
    max(peaks[i], peaks[i - 1]), the first one ``prev`` (the peak before the span; 0 at the signal's start).
    A branch-free float32 loop, so LLVM vectorises the division.
    """
    n = min(peaks.shape[0], size)
    threshold = np.float32(ceiling / scale)  # peaks above this (before the gain) need limiting
    req = np.ones(size, dtype=np.float32)
    if n == 0:
        return req
    first = max(peaks[0], np.float32(prev))
    req[0] = min(np.float32(1.0), threshold / first) if first > 0 else np.float32(1.0)
    for i in range(1, n):
        p = max(peaks[i], peaks[i - 1])
        req[i] = min(np.float32(1.0), threshold / max(p, np.float32(1e-30)))
    return req


@numba.njit(cache=True, nogil=True)
def _hold(req: np.ndarray, length: int, m: int) -> np.ndarray:
    """hold[i] = min(req[i : i + length]) for i < m: a forward running minimum by van Herk / Gil-Werman
    (block prefix and suffix minima: O(n) for any window). Comparisons are written out because numba's
    min() also handles NaN and is ~3x slower."""
    total = req.shape[0]
    prefix = np.empty(total, dtype=np.float32)
    suffix = np.empty(total, dtype=np.float32)
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
    hold = np.empty(m, dtype=np.float32)
    for i in range(m):
        a = suffix[i]
        b = prefix[i + length - 1]
        hold[i] = a if a < b else b
    return hold


@numba.njit(cache=True, nogil=True)
def _release_average(hold: np.ndarray, coef: float, state: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Release and moving average of the held gain, carrying ``state`` (level, running sum, ring slot,
    started) and ``ring`` (the last ``len(ring)`` released values) from the previous span."""
    length = ring.shape[0]
    out = np.empty(hold.shape[0], dtype=np.float32)
    level = np.float32(state[0])
    running = state[1]
    slot = int(state[2])
    c = np.float32(coef)
    for i in range(hold.shape[0]):
        rising = np.float32(1.0) - (np.float32(1.0) - level) * c
        h = hold[i]
        level = h if h < rising else rising
        if (
            state[3] == 0.0
        ):  # before the start the curve sits at the first held value, so early peaks hold too
            ring[:] = level
            running = np.float64(level) * length
            state[3] = 1.0
        running += level - ring[slot]
        ring[slot] = level
        slot = slot + 1 if slot + 1 < length else 0
        v = running / length
        out[i] = v if v < 1.0 else 1.0
    state[0], state[1], state[2] = level, running, slot
    return out


@numba.njit(cache=True, nogil=True)
def _hops_into(power: np.ndarray, curve: np.ndarray, edges: np.ndarray, offset: int, out: np.ndarray) -> None:
    """out[k] += energy of power * curve^2 (curve empty: of power) over the samples of hop k, from
    ``edges[k]`` to ``edges[k + 1]``, that lie in this span (``power[0]`` is sample ``offset``). Each hop is
    summed in float64 in sample order, so spans give the whole signal's sums bit for bit."""
    stop = offset + power.shape[0]
    k = int(np.searchsorted(edges, offset, side="right")) - 1
    k = k if k > 0 else 0
    scaled = curve.shape[0] > 0
    while k < edges.shape[0] - 1 and edges[k] < stop:
        acc = out[k]
        for i in range(max(edges[k], offset), min(edges[k + 1], stop)):
            j = i - offset
            acc += power[j] * curve[j] * curve[j] if scaled else power[j]
        out[k] = acc
        k += 1


@numba.njit(cache=True, nogil=True)
def _weighted_power(x: np.ndarray, sos: np.ndarray, weights: np.ndarray, state: np.ndarray) -> np.ndarray:
    """sum_c w_c * (two biquads applied to x[c])^2 per sample (direct form II transposed).

    The state lives in scalars (registers) and both channels advance in one loop, so their independent
    recursions overlap; float64 state (the 38 Hz high-pass has poles within 0.01 of the unit circle).
    ``state`` (channels x 4: shelf and high-pass memories) starts the filters and is left where they end,
    so a signal filtered a block at a time gives the same power bit for bit.
    """
    channels, n = x.shape
    out = np.zeros(n, dtype=np.float32)
    b0, b1, b2, a1, a2 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    c0, c1, c2, d1, d2 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    for first in range(0, channels, 2):
        pair = min(2, channels - first)
        u1, u2, v1, v2 = state[first, 0], state[first, 1], state[first, 2], state[first, 3]  # channel A
        second = first + 1 if pair == 2 else first
        p1, p2, q1, q2 = state[second, 0], state[second, 1], state[second, 2], state[second, 3]  # channel B
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
        state[first, 0], state[first, 1], state[first, 2], state[first, 3] = u1, u2, v1, v2
        if pair == 2:
            state[second, 0], state[second, 1], state[second, 2], state[second, 3] = p1, p2, q1, q2
    return out


def interval_peaks(x: np.ndarray, taps: np.ndarray, blocks: np.ndarray, block: int) -> np.ndarray:
    return _interval_peaks(
        np.ascontiguousarray(x, dtype=np.float32), taps, blocks.astype(np.int64), int(block)
    )


def block_abs_max(x: np.ndarray, block: int) -> np.ndarray:
    return _block_abs_max(np.ascontiguousarray(x, dtype=np.float32), int(block))


def limiter_span(
    peaks: np.ndarray,
    prev: float,
    size: int,
    scale: float,
    ceiling: float,
    coef: float,
    state: np.ndarray,
    ring: np.ndarray,
) -> np.ndarray:
    """The limiter's gain for ``size`` samples (see mixing.limiter): ``peaks`` are theirs and the look-ahead's
    after them (``len(ring) - 1`` more where the signal goes on), ``prev`` the peak before them."""
    length = ring.shape[0]
    req = _required(np.ascontiguousarray(peaks, dtype=np.float32), prev, scale, ceiling, size + length - 1)
    return _release_average(_hold(req, length, size), coef, state, ring)


def limiter_state(length: int) -> tuple[np.ndarray, np.ndarray]:
    """A fresh (state, ring) for :func:`limiter_span`: level 1, nothing released yet."""
    assert length >= 1
    return np.array([1.0, 0.0, 0.0, 0.0]), np.empty(length, dtype=np.float64)


def limiter_curve(peaks: np.ndarray, scale: float, ceiling: float, length: int, coef: float) -> np.ndarray:
    assert length >= 1 and ceiling > 0.0
    state, ring = limiter_state(length)
    return limiter_span(peaks, 0.0, peaks.shape[0], scale, ceiling, coef, state, ring)


def hops_into(
    power: np.ndarray, curve: np.ndarray | None, edges: np.ndarray, offset: int, out: np.ndarray
) -> None:
    gain = np.zeros(0, dtype=np.float32) if curve is None else np.ascontiguousarray(curve, dtype=np.float32)
    _hops_into(np.ascontiguousarray(power, dtype=np.float32), gain, edges.astype(np.int64), int(offset), out)


def power_state(channels: int) -> np.ndarray:
    """Fresh K-weighting filter memories for :func:`weighted_power`."""
    return np.zeros((channels, 4), dtype=np.float64)


def weighted_power(
    x: np.ndarray, sos: np.ndarray, weights: np.ndarray, state: np.ndarray | None = None
) -> np.ndarray:
    assert sos.shape == (2, 6) and weights.shape == (x.shape[0],)
    state = power_state(x.shape[0]) if state is None else state
    assert state.shape == (x.shape[0], 4) and state.dtype == np.float64
    return _weighted_power(
        np.ascontiguousarray(x, dtype=np.float32),
        np.ascontiguousarray(sos, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        state,
    )
