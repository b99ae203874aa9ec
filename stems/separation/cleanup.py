"""Stem cleanup after separation: pure functions on arrays, length never changes.

Steps, in order: DC removal, instrument-range band limits (zero-phase Butterworth), a noise gate
with hysteresis, short raised-cosine fades at both ends, and a peak ceiling (a uniform gain, never a
clip). Every step is one field of :class:`CleanSettings`; ``None``/``False`` turns it off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

import numpy as np

from stems.audio import Audio, check_finite
from stems.errors import UserInputError

logger = logging.getLogger(__name__)

__all__ = ["FAMILIES", "CleanSettings", "clean", "gate_gain", "settings_for"]


@dataclass(frozen=True)
class CleanSettings:
    """One field per step; ``None`` or ``False`` disables that step. Levels in dBFS, times in s."""

    dc: bool = True
    # 20 Hz: the lower limit of hearing (ISO 226 equal-loudness contours start there); below is rumble.
    highpass_hz: float | None = 20.0
    lowpass_hz: float | None = None
    # 4th-order Butterworth run forward and backward (zero phase, so stems stay sample-aligned):
    # 48 dB/octave and -6 dB at the cutoff.
    filter_order: int = 4
    # RMS dBFS on a 10 ms window. Far under a played note of a generated stem (about -30..-10 dBFS)
    # and above the faint bleed Demucs leaves between notes; the 10 dB gap is the hysteresis.
    gate_open_db: float | None = -55.0
    gate_close_db: float | None = -65.0
    gate_hold_s: float = 0.1
    gate_attack_s: float = 0.005
    gate_release_s: float = 0.15
    fade_in_s: float | None = 0.005
    fade_out_s: float | None = 0.02
    peak_ceiling_db: float | None = 0.0

    def __post_init__(self) -> None:
        _check_band(self.highpass_hz, self.lowpass_hz, self.filter_order)
        _check_gate(self)
        for name in ("fade_in_s", "fade_out_s"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise UserInputError(f"cleanup {name}={value!r} must be >= 0 seconds (or null to disable)")
        if self.peak_ceiling_db is not None and self.peak_ceiling_db > 0.0:
            raise UserInputError(
                f"cleanup peak_ceiling_db={self.peak_ceiling_db!r} must be <= 0 dBFS (or null to disable)"
            )

    @property
    def gate_enabled(self) -> bool:
        return self.gate_open_db is not None


def _lowest(hz: float) -> float:
    """High-pass cutoff half an octave under an instrument's lowest fundamental: with the zero-phase
    4th-order Butterworth the lowest note loses 20*log10(1 + 2**-4) = 0.5 dB."""
    return round(hz / np.sqrt(2.0), 1)


_GATE_TIGHT = {
    "gate_open_db": -45.0,
    "gate_close_db": -55.0,
    "gate_hold_s": 0.05,
    "gate_attack_s": 0.001,
    "gate_release_s": 0.08,
}
_GATE_OFF = {"gate_open_db": None, "gate_close_db": None}
# Lowest fundamentals (Hz, 12-TET A4 = 440): drums kick ~40 Hz; 5-string bass B0 30.87; piano A0 27.5;
# keys/organ E1 41.2; guitar drop-D/7-string B1 61.7; synth lead C2 65.4; strings (double bass) E1 41.2;
# pad C1 32.7; vocals (bass voice) E2 82.4; brass (tuba) D1 36.7; woodwind (bassoon) Bb1 58.3.
FAMILIES: dict[str, dict[str, object]] = {
    "drums": {"highpass_hz": _lowest(40.0), **_GATE_TIGHT},
    # Bass energy above ~8 kHz is separation bleed (hi-hats, cymbals), not the instrument.
    "bass": {"highpass_hz": _lowest(30.87), "lowpass_hz": 8000.0},
    "piano": {"highpass_hz": _lowest(27.5), "gate_release_s": 0.3},
    "keys": {"highpass_hz": _lowest(41.2), "gate_release_s": 0.3},
    "guitar": {"highpass_hz": _lowest(61.7)},
    "lead": {"highpass_hz": _lowest(65.4)},
    "strings": {"highpass_hz": _lowest(41.2), **_GATE_OFF},  # sustained: a gate would chop swells
    "pad": {"highpass_hz": _lowest(32.7), **_GATE_OFF},
    "vocals": {"highpass_hz": _lowest(82.4)},
    "brass": {"highpass_hz": _lowest(36.7)},
    "woodwind": {"highpass_hz": _lowest(58.3)},
    "other": {},
}


def settings_for(instrument: str | None, **overrides: object) -> CleanSettings:
    """The family's defaults with ``overrides`` applied (field names of :class:`CleanSettings`)."""
    if instrument is not None and instrument.lower() not in FAMILIES:
        raise UserInputError(
            f"cleanup instrument {instrument!r} is unknown; allowed: {', '.join(FAMILIES)} (or none). "
            "Pick the closest family."
        )
    names = {f.name for f in fields(CleanSettings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise UserInputError(f"cleanup settings {unknown} are unknown; allowed: {', '.join(sorted(names))}")
    family = FAMILIES[instrument.lower()] if instrument is not None else {}
    return replace(CleanSettings(), **{**family, **overrides})  # type: ignore[arg-type]


def clean(audio: Audio, settings: CleanSettings, *, name: str = "stem") -> Audio:
    """Apply the enabled steps; a new Audio of the same shape (the input is never modified)."""
    check_finite(audio, name)
    x = audio.samples.astype(np.float64)  # a copy; float64 keeps the filters' stopband clean
    rate = audio.sample_rate
    if settings.dc:
        x = remove_dc(x)
    x = band_limit(x, rate, settings.highpass_hz, settings.lowpass_hz, settings.filter_order, name)
    if settings.gate_enabled:
        x = x * gate_gain(x, rate, settings)
    x = apply_fades(x, rate, settings.fade_in_s, settings.fade_out_s)
    if settings.peak_ceiling_db is not None:
        x = limit_peak(x, settings.peak_ceiling_db)
    assert x.shape == audio.samples.shape
    return Audio(x.astype(np.float32), rate)


def remove_dc(x: np.ndarray) -> np.ndarray:
    """Subtract each channel's mean (exact DC; slow drift is the high-pass's job)."""
    return x - x.mean(axis=-1, keepdims=True) if x.shape[-1] else x.copy()


def band_limit(
    x: np.ndarray,
    rate: int,
    highpass_hz: float | None,
    lowpass_hz: float | None,
    order: int,
    name: str = "stem",
) -> np.ndarray:
    """Zero-phase Butterworth high-/low-pass along the last axis; a low-pass at or above Nyquist is skipped."""
    from scipy.signal import butter, sosfiltfilt

    nyquist = rate / 2.0
    if highpass_hz is not None and highpass_hz >= nyquist:
        raise UserInputError(
            f"{name}: highpass_hz={highpass_hz} is not below Nyquist ({nyquist:g} Hz at {rate} Hz); lower it"
        )
    bands = [
        ("highpass", highpass_hz),
        ("lowpass", lowpass_hz if lowpass_hz and lowpass_hz < nyquist else None),
    ]
    for kind, cutoff in bands:
        if cutoff is None or x.shape[-1] < 2:
            continue
        sos = butter(order, cutoff, btype=kind, fs=rate, output="sos")
        # sosfiltfilt's default pad (3 * 2 * sections) needs a longer signal; shorten it for tiny stems.
        padlen = min(3 * (2 * len(sos) + 1), x.shape[-1] - 1)
        x = sosfiltfilt(sos, x, axis=-1, padlen=padlen)
    return x


def apply_fades(x: np.ndarray, rate: int, fade_in_s: float | None, fade_out_s: float | None) -> np.ndarray:
    """Raised-cosine fades: the first and last samples are exactly zero, no click at the edges."""
    n = x.shape[-1]
    gain = np.ones(n)
    for seconds, at_start in ((fade_in_s, True), (fade_out_s, False)):
        if not seconds or n == 0:
            continue
        length = min(n, max(2, round(seconds * rate)))
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(length) / max(length - 1, 1))  # 0 .. 1 inclusive
        if at_start:
            gain[:length] *= ramp
        else:
            gain[n - length :] *= ramp[::-1]
    return x * gain


def limit_peak(x: np.ndarray, ceiling_db: float) -> np.ndarray:
    """Scale the whole stem down when its sample peak exceeds the ceiling (a gain, never a clip)."""
    ceiling = 10.0 ** (ceiling_db / 20.0)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= ceiling:
        return x
    logger.debug("peak %.3f above ceiling %.3f: scaling by %.3f", peak, ceiling, ceiling / peak)
    return x * (ceiling / peak)


# Gate envelope: levels are measured every GATE_HOP_S on a GATE_WINDOW_S RMS window (10 ms is the
# usual "fast" detector of broadcast gates); the gain is computed per hop and interpolated per sample.
GATE_HOP_S = 0.001
GATE_WINDOW_S = 0.010


def gate_gain(x: np.ndarray, rate: int, settings: CleanSettings) -> np.ndarray:
    """Per-sample gate gain in [0, 1] for ``x`` (channels, samples), channels linked.

    Opens when the level reaches ``gate_open_db``; closes only after it stays under ``gate_close_db``
    for ``gate_hold_s`` (the open/close gap is the hysteresis). Gain moves linearly, over
    ``gate_attack_s`` up and ``gate_release_s`` down, and opens ``gate_attack_s`` early (look-ahead)
    so note onsets are not cut.
    """
    assert settings.gate_open_db is not None and settings.gate_close_db is not None
    n = x.shape[-1]
    if n == 0:
        return np.ones(0)
    hop = max(1, round(GATE_HOP_S * rate))
    centers = np.arange(0, n, hop)
    level = _level_db(x, rate, centers)
    hold = round(settings.gate_hold_s / (hop / rate))
    state = _hysteresis(level, settings.gate_open_db, settings.gate_close_db, hold)
    lookahead = round(settings.gate_attack_s / (hop / rate))
    state = _open_early(state, lookahead)
    gain = _ramp(state, _steps(settings.gate_attack_s, hop, rate), _steps(settings.gate_release_s, hop, rate))
    return np.interp(np.arange(n), centers, gain)


def _level_db(x: np.ndarray, rate: int, centers: np.ndarray) -> np.ndarray:
    """RMS level (dBFS, sine peak 1 = -3 dB) of the loudest channel around each hop centre."""
    power = np.max(np.asarray(x, dtype=np.float64) ** 2, axis=0)
    half = max(1, round(GATE_WINDOW_S * rate / 2))
    cumsum = np.concatenate([[0.0], np.cumsum(power)])
    lo = np.clip(centers - half, 0, len(power))
    hi = np.clip(centers + half, 0, len(power))
    mean = (cumsum[hi] - cumsum[lo]) / np.maximum(hi - lo, 1)
    return 10.0 * np.log10(mean + 1e-20)


def _hysteresis(level: np.ndarray, open_db: float, close_db: float, hold: int) -> np.ndarray:
    """Open at ``open_db``; after the level falls under ``close_db``, close once ``hold`` hops pass."""
    state = np.zeros(len(level), dtype=bool)
    is_open, left = False, 0
    for i, value in enumerate(level.tolist()):
        if value >= open_db or (is_open and value >= close_db):
            is_open, left = True, hold
        elif is_open:
            if left > 0:
                left -= 1
            else:
                is_open = False
        state[i] = is_open
    return state


def _open_early(state: np.ndarray, hops: int) -> np.ndarray:
    """Open ``hops`` hops before each opening (a look-ahead equal to the attack time)."""
    if hops <= 0 or not state.any():
        return state
    padded = np.concatenate([state, np.zeros(hops, dtype=bool)])
    return np.asarray(np.lib.stride_tricks.sliding_window_view(padded, hops + 1).any(axis=1))


def _steps(seconds: float, hop: int, rate: int) -> float:
    """Gain change per hop for a linear ramp lasting ``seconds`` (instant when 0)."""
    hops = seconds * rate / hop
    return 1.0 if hops <= 1.0 else 1.0 / hops


def _ramp(state: np.ndarray, up: float, down: float) -> np.ndarray:
    """Linear attack/release toward 1 (open) or 0 (closed), so a closed gate reaches exact silence."""
    gain = np.empty(len(state))
    g = 1.0 if state[0] else 0.0
    for i, is_open in enumerate(state.tolist()):
        g = min(1.0, g + up) if is_open else max(0.0, g - down)
        gain[i] = g
    return gain


def _check_band(highpass_hz: float | None, lowpass_hz: float | None, order: int) -> None:
    for label, value in (("highpass_hz", highpass_hz), ("lowpass_hz", lowpass_hz)):
        if value is not None and value <= 0:
            raise UserInputError(f"cleanup {label}={value!r} must be > 0 Hz (or null to disable)")
    if highpass_hz is not None and lowpass_hz is not None and highpass_hz >= lowpass_hz:
        raise UserInputError(
            f"cleanup highpass_hz={highpass_hz} must be below lowpass_hz={lowpass_hz}; swap or disable one"
        )
    if not 1 <= order <= 12:
        raise UserInputError(f"cleanup filter_order={order!r} must be between 1 and 12")


def _check_gate(s: CleanSettings) -> None:
    if (s.gate_open_db is None) != (s.gate_close_db is None):
        raise UserInputError(
            f"cleanup gate needs both thresholds or neither; got gate_open_db={s.gate_open_db}, "
            f"gate_close_db={s.gate_close_db}"
        )
    if s.gate_open_db is not None and s.gate_close_db is not None and s.gate_close_db > s.gate_open_db:
        raise UserInputError(
            f"cleanup gate_close_db={s.gate_close_db} must be <= gate_open_db={s.gate_open_db} "
            "(the gap is the hysteresis that stops chatter)"
        )
    for label in ("gate_hold_s", "gate_attack_s", "gate_release_s"):
        if getattr(s, label) < 0:
            raise UserInputError(f"cleanup {label}={getattr(s, label)!r} must be >= 0 seconds")
