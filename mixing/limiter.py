"""Look-ahead true-peak limiter: oversampled peak detection, hold, smooth release, smoothed attack.

The gain is computed from the per-sample *interval* peaks of the oversampled signal (mixing.truepeak),
so inter-sample peaks are caught, not only sample peaks. The chain, per sample n, is:

1. required gain  r[n] = min(1, ceiling / peak[n])
2. look-ahead hold  h[n] = min(r[n .. n+L-1])          (L = look-ahead in samples, odd)
3. release          e[n] = min(h[n], 1 - (1 - e[n-1]) * a)   (one-pole, a = exp(-1 / (release * rate)))
4. attack smoothing g[n] = mean(e[n-L+1 .. n])

Every e[k] for k in [p-L+1, p] is <= r[p] because each of those hold windows contains p, so the
average g[p] <= r[p]: the ceiling holds at every peak while the gain moves as a linear ramp over L
samples (no step, so no added clicks). This is the standard "hold + moving average" look-ahead design
(e.g. Giannoulis, Massberg & Reiss, "Digital dynamic range compressor design", JAES 2012).
"""

from __future__ import annotations

import math

import numpy as np

from mixing.truepeak import interval_peaks
from stems.audio import Audio
from stems.errors import UserInputError
from stems.streaming import Store

DEFAULT_LOOKAHEAD_MS = 3.0
DEFAULT_RELEASE_MS = 100.0


def _window(sample_rate: int, lookahead_ms: float) -> int:
    length = max(1, round(lookahead_ms * 1e-3 * sample_rate))
    return length | 1  # odd, so the hold window is symmetric about its centre sample


def check_times(lookahead_ms: float, release_ms: float) -> None:
    if not (0.1 <= lookahead_ms <= 50.0) or not math.isfinite(lookahead_ms):
        raise UserInputError(
            f"limiter look-ahead {lookahead_ms} ms is out of range; use 0.1 to 50 ms (e.g. 3)"
        )
    if not (1.0 <= release_ms <= 5000.0) or not math.isfinite(release_ms):
        raise UserInputError(f"limiter release {release_ms} ms is out of range; use 1 to 5000 ms (e.g. 100)")


def limiter_gain(
    peaks: np.ndarray,
    ceiling: float,
    sample_rate: int,
    lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    release_ms: float = DEFAULT_RELEASE_MS,
    scale: float = 1.0,
) -> np.ndarray:
    """Gain curve (float32, <= 1) keeping ``peaks * scale`` (linear interval peaks) under ``ceiling``.

    ``scale`` is the gain applied before the limiter, so the master's search reuses one set of peaks.
    """
    from mixing import _kernels

    assert peaks.ndim == 1 and ceiling > 0.0
    if peaks.size == 0 or float(peaks.max()) * scale <= ceiling:
        return np.ones(peaks.size, dtype=np.float32)
    length = _window(sample_rate, lookahead_ms)
    coef = math.exp(-1.0 / (release_ms * 1e-3 * sample_rate))
    return _kernels.limiter_curve(peaks, scale, ceiling, length, coef)


class LimiterSpans:
    """:func:`limiter_gain` of interval peaks kept in a store, a span at a time (:meth:`next`): each span
    reads its look-ahead past its end, and the release and the average go on from the span before, so the
    spans join into the whole curve. Memory does not grow with the signal's length."""

    def __init__(
        self,
        peaks: Store,
        ceiling: float,
        sample_rate: int,
        lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
        release_ms: float = DEFAULT_RELEASE_MS,
        scale: float = 1.0,
    ) -> None:
        from mixing import _kernels

        self._peaks, self._ceiling, self._scale = peaks, ceiling, scale
        self._length = _window(sample_rate, lookahead_ms)
        self._coef = math.exp(-1.0 / (release_ms * 1e-3 * sample_rate))
        self._state, self._ring = _kernels.limiter_state(self._length)
        self._done = 0

    def next(self, size: int) -> np.ndarray:
        """The gain of the next ``size`` samples."""
        from mixing import _kernels

        start, stop = self._done, self._done + size
        prev = float(self._peaks.read(start - 1, start)[0]) if start else 0.0
        span = self._peaks.read(start, stop + self._length - 1)
        self._done = stop
        return _kernels.limiter_span(
            span, prev, size, self._scale, self._ceiling, self._coef, self._state, self._ring
        )


def limit(
    audio: Audio,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = DEFAULT_LOOKAHEAD_MS,
    release_ms: float = DEFAULT_RELEASE_MS,
) -> Audio:
    """Limit ``audio`` so its true peak stays at or below ``ceiling_dbtp`` (a new Audio; input untouched)."""
    if not (-60.0 <= ceiling_dbtp <= 0.0):
        raise UserInputError(f"true-peak ceiling {ceiling_dbtp} dBTP is out of range; use -60 to 0 (e.g. -1)")
    check_times(lookahead_ms, release_ms)
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    peaks = interval_peaks(audio.samples, audio.sample_rate, ceiling)
    gain = limiter_gain(peaks, ceiling, audio.sample_rate, lookahead_ms, release_ms)
    return Audio(audio.samples * gain[None, :], audio.sample_rate)
