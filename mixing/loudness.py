"""Loudness metering: integrated loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342), peaks.

The K-weighting filters are pyloudnorm's (``Meter(rate, filter_class="DeMan")``); the gating is
vectorised here because pyloudnorm loops over blocks in Python (about 1 s per 5 minutes of stereo).
A signal can be measured a block at a time (:func:`measure_blocks`): the filters carry their memories from
block to block and each hop is summed in float64 in sample order, so the result is the whole signal's.
Everything is computed from 100 ms "hop" energies: a 400 ms gating block (BS.1770) is 4 hops and a 3 s
short-term window (Tech 3342) is 30 hops, so one K-weighting pass serves both measurements.

Silence is ``None``, never ``-inf``: a report goes into JSON manifests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from mixing.truepeak import BLOCK, peak_of_blocks, true_peak
from stems.audio import Audio, check_finite
from stems.streaming import ArrayBlocks, BlockSource

# ITU-R BS.1770-4 eq. 2 and 4: loudness offset and channel weights (L, R, C, Ls, Rs).
LOUDNESS_OFFSET = -0.691
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 Gamma_a; Tech 3342 uses the same absolute gate
RELATIVE_GATE_LU = -10.0  # BS.1770-4 Gamma_r
LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342
LRA_PERCENTILES = (10.0, 95.0)  # EBU Tech 3342
HOP_S = 0.1  # 75 % overlap of 400 ms blocks (BS.1770-4) and 10 Hz short-term rate (Tech 3342)
BLOCK_HOPS = 4  # 400 ms gating block
SHORT_TERM_HOPS = 30  # 3 s short-term window
BLOCK_MS = round(BLOCK_HOPS * HOP_S * 1000)


@dataclass(frozen=True)
class LoudnessReport:
    """Integrated loudness, loudness range, true peak and sample peak; ``None`` means digital silence."""

    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v, 3)) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class HopEnergies:
    """Channel-weighted K-weighted energy per 100 ms hop and the number of samples in each hop."""

    energy: np.ndarray
    length: np.ndarray


def to_db(linear: float) -> float | None:
    """20 log10 of an amplitude, ``None`` for zero (silence)."""
    return None if linear <= 0.0 else 20.0 * math.log10(linear)


@cache
def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770-4 K-weighting (pre-filter shelf + RLB high-pass) as second-order sections for any rate.

    pyloudnorm's "DeMan" filters: the analog prototypes of BS.1770's 48 kHz biquads (B. De Man's
    derivation, also used by libebur128) through the bilinear transform, so every rate matches the
    standard; pyloudnorm's default "K-weighting" set reads a 1 kHz tone about 0.035 LU low.
    """
    from pyloudnorm.iirfilter import IIRfilter

    shelf = IIRfilter(3.99984385397, 0.7071752369554193, 1681.9744509555319, sample_rate, "high_shelf_DeMan")
    high_pass = IIRfilter(0.0, 0.5003270373253953, 38.13547087613982, sample_rate, "high_pass_DeMan")
    rows = [np.concatenate([f.b * f.passband_gain, f.a]) for f in (shelf, high_pass)]
    return np.array(rows, dtype=np.float64)


def _channel_weights(channels: int) -> np.ndarray:
    if channels > len(CHANNEL_WEIGHTS):
        raise ValueError(f"loudness is defined for up to {len(CHANNEL_WEIGHTS)} channels, got {channels}")
    return np.array(CHANNEL_WEIGHTS[:channels])


def weighted_power(audio: Audio) -> np.ndarray:
    """Per-sample sum over channels of G_c * (K-weighted sample)^2, float32 shaped ``(samples,)``."""
    from mixing import _kernels

    weights = _channel_weights(audio.channels)
    return _kernels.weighted_power(audio.samples, k_weighting_sos(audio.sample_rate), weights)


def power_meter(channels: int, sample_rate: int) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`weighted_power` of one signal's consecutive blocks, a block per call: the filters' memories go
    on from block to block, so the values are the whole signal's."""
    from mixing import _kernels

    sos, weights = k_weighting_sos(sample_rate), _channel_weights(channels)
    state = _kernels.power_state(channels)
    return lambda block: _kernels.weighted_power(block, sos, weights, state)


def measurable(num_samples: int, sample_rate: int) -> bool:
    """Whether audio this long holds one complete 400 ms gating block, the least BS.1770-4 measures.

    Shorter audio still gets a number from :func:`measure` (its one partial block), but not a standard one.
    """
    return int(num_samples // (HOP_S * sample_rate)) >= BLOCK_HOPS


def hop_edges(num_samples: int, sample_rate: int) -> np.ndarray:
    """Sample edges of the complete 100 ms hops (rounded to samples, so any rate works); audio shorter
    than one hop is one partial hop."""
    n_hops = int(num_samples // (HOP_S * sample_rate))
    if n_hops == 0:
        return np.array([0, num_samples], dtype=np.int64)
    return np.round(np.arange(n_hops + 1) * HOP_S * sample_rate).astype(np.int64)


class HopSums:
    """Hop energies of a signal whose K-weighted power comes a span at a time: each hop is summed in
    float64 in sample order, so spans give the same sums as the whole signal."""

    def __init__(self, num_samples: int, sample_rate: int) -> None:
        self.edges = hop_edges(num_samples, sample_rate)
        self.energy = np.zeros(self.edges.size - 1)

    def add(self, power: np.ndarray, offset: int, curve: np.ndarray | None = None) -> None:
        """Add the power of samples ``offset`` on (times ``curve**2``, a gain per sample, when given)."""
        from mixing import _kernels

        _kernels.hops_into(power, curve, self.edges, offset, self.energy)

    def result(self) -> HopEnergies:
        return HopEnergies(self.energy.copy(), np.maximum(np.diff(self.edges), 1))


def hop_energies(power: np.ndarray, sample_rate: int, curve: np.ndarray | None = None) -> HopEnergies:
    """Energy of each complete 100 ms hop; with ``curve`` (a gain per sample) of ``power * curve**2``,
    computed without a temporary."""
    sums = HopSums(power.size, sample_rate)
    sums.add(power, 0, curve)
    return sums.result()


def _window_loudness(hops: HopEnergies, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean square and loudness of every window of ``width`` hops (one window if there are fewer hops)."""
    width = min(width, hops.energy.size)
    kernel = np.ones(width)
    z = np.convolve(hops.energy, kernel, "valid") / np.convolve(hops.length, kernel, "valid")
    with np.errstate(divide="ignore"):
        return z, LOUDNESS_OFFSET + 10.0 * np.log10(z)


def gated_loudness(hops: HopEnergies) -> float | None:
    """BS.1770-4 integrated loudness with absolute and relative gates; ``None`` if nothing passes."""
    z, level = _window_loudness(hops, BLOCK_HOPS)
    above_abs = level > ABSOLUTE_GATE_LUFS
    if not above_abs.any():
        return None
    gate = LOUDNESS_OFFSET + 10.0 * math.log10(z[above_abs].mean()) + RELATIVE_GATE_LU
    kept = above_abs & (level > gate)
    return LOUDNESS_OFFSET + 10.0 * math.log10(z[kept].mean())


def loudness_range(hops: HopEnergies) -> float | None:
    """EBU Tech 3342 loudness range: spread (10th to 95th percentile) of gated 3 s short-term loudness."""
    _, level = _window_loudness(hops, SHORT_TERM_HOPS)
    level = level[level > ABSOLUTE_GATE_LUFS]
    if level.size == 0:
        return None
    mean_power = float(np.mean(10.0 ** (level / 10.0)))
    level = level[level > 10.0 * math.log10(mean_power) + LRA_RELATIVE_GATE_LU]
    low, high = np.percentile(level, LRA_PERCENTILES)
    return float(high - low)


def integrated_loudness(audio: Audio) -> float | None:
    """Integrated loudness in LUFS (BS.1770-4); ``None`` for silence or anything below -70 LUFS."""
    return gated_loudness(hop_energies(weighted_power(audio), audio.sample_rate))


def true_peak_dbtp(audio: Audio) -> float | None:
    """True peak in dBTP (BS.1770-4 Annex 2, oversampled to >= 192 kHz); ``None`` for silence."""
    return to_db(true_peak(audio.samples, audio.sample_rate))


def sample_peak_dbfs(audio: Audio) -> float | None:
    return to_db(float(np.abs(audio.samples).max())) if audio.num_samples else None


def measure(audio: Audio) -> LoudnessReport:
    """Integrated loudness, loudness range, true peak and sample peak of ``audio``."""
    check_finite(audio, "audio to measure")
    return measure_blocks(ArrayBlocks(audio))


def measure_blocks(source: BlockSource) -> LoudnessReport:
    """:func:`measure` of a signal read a block at a time (memory does not grow with its length): the
    K-weighted power and each block's peak in one pass, the true peak of the blocks that could beat the
    sample peak in a second."""
    from mixing import _kernels

    hops = HopSums(source.num_samples, source.sample_rate)
    power = power_meter(source.channels, source.sample_rate)
    block_peaks, offset = [], 0
    for block in source.blocks():
        hops.add(power(block), offset)
        block_peaks.append(_kernels.block_abs_max(block, BLOCK))
        offset += block.shape[1]
    sample = float(np.concatenate(block_peaks).max()) if block_peaks else 0.0
    true = 0.0 if sample == 0.0 else max(sample, peak_of_blocks(source.blocks(), source.sample_rate, sample))
    energies = hops.result()
    integrated = gated_loudness(energies)
    return LoudnessReport(
        integrated_lufs=integrated,
        loudness_range_lu=None if integrated is None else loudness_range(energies),
        true_peak_dbtp=to_db(true),
        sample_peak_dbfs=to_db(sample),
    )
