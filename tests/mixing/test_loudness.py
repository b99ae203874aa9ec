"""The loudness meter against EBU Tech 3341 / 3342-style signals generated here, and against pyloudnorm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixing.loudness import (
    LoudnessReport,
    integrated_loudness,
    measure,
    true_peak_dbtp,
)
from mixing.truepeak import interval_peaks, true_peak
from stems.audio import Audio

RATES = (48_000, 44_100, 32_000)


def tone(dbfs: float, seconds: float, rate: int, freq: float = 1000.0, phase: float = 0.0) -> np.ndarray:
    """A sine whose peak amplitude is ``dbfs`` (EBU test signals are specified this way)."""
    n = np.arange(round(seconds * rate))
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * n / rate + phase)


def stereo(*parts: np.ndarray, rate: int) -> Audio:
    x = np.concatenate(parts).astype(np.float32)
    return Audio(np.stack([x, x]), rate)


def faded(x: np.ndarray, rate: int, fade_s: float = 0.01) -> np.ndarray:
    """Raised-cosine fades: an abrupt start would itself create inter-sample overshoot (Gibbs)."""
    k = int(fade_s * rate)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
    out = x.copy()
    out[:k] *= ramp
    out[-k:] *= ramp[::-1]
    return out


# --- EBU Tech 3341 (integrated loudness, stereo 1 kHz sines, expected -23.0 +-0.1 LUFS) ---------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_steady_sine_reads_its_level(rate: int, level: float) -> None:
    assert integrated_loudness(stereo(tone(level, 20, rate), rate=rate)) == pytest.approx(level, abs=0.1)


@pytest.mark.parametrize("rate", [48_000, 32_000])
def test_relative_gate_ignores_quiet_parts(rate: int) -> None:
    # Tech 3341 case 3: -36 / -23 / -36 dBFS for 10 / 60 / 10 s.
    audio = stereo(tone(-36, 10, rate), tone(-23, 60, rate), tone(-36, 10, rate), rate=rate)
    assert integrated_loudness(audio) == pytest.approx(-23.0, abs=0.1)


def test_absolute_and_relative_gates_together() -> None:
    # Tech 3341 case 4: -72 / -36 / -23 / -36 / -72 dBFS for 10 / 10 / 60 / 10 / 10 s.
    rate = 48_000
    parts = [
        tone(-72, 10, rate),
        tone(-36, 10, rate),
        tone(-23, 60, rate),
        tone(-36, 10, rate),
        tone(-72, 10, rate),
    ]
    assert integrated_loudness(stereo(*parts, rate=rate)) == pytest.approx(-23.0, abs=0.1)


def test_gate_is_not_just_averaging() -> None:
    # Tech 3341 case 5: -26 / -20 / -26 dBFS for 20 / 20.1 / 20 s: the power mean (not a gate) gives -23.
    rate = 48_000
    audio = stereo(tone(-26, 20, rate), tone(-20, 20.1, rate), tone(-26, 20, rate), rate=rate)
    assert integrated_loudness(audio) == pytest.approx(-23.0, abs=0.1)


def test_mono_sine_is_3_lu_below_stereo() -> None:
    rate = 48_000
    mono = Audio(tone(-23, 10, rate)[None].astype(np.float32), rate)
    assert integrated_loudness(mono) == pytest.approx(-26.01, abs=0.1)


# --- EBU Tech 3342 (loudness range) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "expected"),
    [((-20, -30), 10.0), ((-20, -15), 5.0), ((-40, -20), 20.0), ((-50, -35, -20, -35, -50), 15.0)],
)
def test_loudness_range_cases(levels: tuple[float, ...], expected: float) -> None:
    rate = 48_000
    report = measure(stereo(*[tone(level, 20, rate) for level in levels], rate=rate))
    assert report.loudness_range_lu == pytest.approx(expected, abs=0.1)


def test_steady_noise_has_almost_no_range() -> None:
    rng = np.random.default_rng(1)
    report = measure(Audio((0.1 * rng.standard_normal((2, 48_000 * 20))).astype(np.float32), 48_000))
    assert report.loudness_range_lu is not None and report.loudness_range_lu < 0.3


# --- true peak (BS.1770-4 Annex 2; Tech 3341 cases 15-23 style tones) ----------------------------------


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("divisor", "phase_deg"), [(4, 45.0), (6, 60.0), (8, 67.5), (4, 0.0)])
def test_true_peak_of_inter_sample_tones(rate: int, divisor: int, phase_deg: float) -> None:
    x = faded(tone(-6.0, 1.0, rate, rate / divisor, math.radians(phase_deg)), rate)
    audio = stereo(x, rate=rate)
    assert true_peak_dbtp(audio) == pytest.approx(-6.0, abs=0.2)


def test_true_peak_sees_above_full_scale() -> None:
    # Tech 3341 case 19 style: samples at -3 dBFS, true peak 0 dBTP (fs/4 at 45 degrees).
    rate = 48_000
    x = faded(tone(0.0, 1.0, rate, rate / 4, math.pi / 4), rate)
    report = measure(stereo(x, rate=rate))
    assert report.sample_peak_dbfs == pytest.approx(-3.01, abs=0.05)
    assert report.true_peak_dbtp == pytest.approx(0.0, abs=0.2)


def test_true_peak_matches_a_long_reference_interpolator() -> None:
    from scipy.signal import butter, resample_poly, sosfiltfilt

    rate = 32_000
    rng = np.random.default_rng(2)
    x = sosfiltfilt(butter(8, 0.8, output="sos"), 0.2 * rng.standard_normal((2, rate * 3))).astype(np.float32)
    reference = np.abs(resample_poly(x.astype(np.float64), 24, 1, axis=-1, window=("kaiser", 12.0))).max()
    assert 20 * np.log10(true_peak(x, rate)) == pytest.approx(20 * np.log10(reference), abs=0.05)


def test_interval_peaks_screening_keeps_everything_above_threshold() -> None:
    rate = 48_000
    rng = np.random.default_rng(3)
    x = (0.02 * rng.standard_normal((2, rate))).astype(np.float32)
    x[:, 30_000] = 0.9
    full = interval_peaks(x, rate, 0.0)
    screened = interval_peaks(x, rate, 0.5)
    above = full >= 0.5
    assert above.any()
    np.testing.assert_array_equal(screened[above], full[above])
    assert (screened == 0).mean() > 0.5  # most blocks were skipped


# --- agreement with pyloudnorm, silence, short input -------------------------------------------------


def test_matches_pyloudnorm_on_noise() -> None:
    import pyloudnorm

    rate = 44_100
    rng = np.random.default_rng(4)
    x = (0.05 * rng.standard_normal((2, rate * 12)) * np.linspace(0.2, 1.0, rate * 12)).astype(np.float32)
    expected = pyloudnorm.Meter(rate, filter_class="DeMan").integrated_loudness(x.T.astype(np.float64).copy())
    assert integrated_loudness(Audio(x, rate)) == pytest.approx(expected, abs=0.01)


def test_silence_is_none_not_minus_infinity() -> None:
    report = measure(Audio(np.zeros((2, 48_000), np.float32), 48_000))
    assert report == LoudnessReport(None, None, None, None)
    assert report.to_dict() == {
        "integrated_lufs": None,
        "loudness_range_lu": None,
        "true_peak_dbtp": None,
        "sample_peak_dbfs": None,
    }


def test_below_absolute_gate_is_silence() -> None:
    assert integrated_loudness(stereo(tone(-80, 5, 48_000), rate=48_000)) is None


def test_short_input_is_measured_as_one_block() -> None:
    rate = 48_000
    report = measure(stereo(tone(-23, 0.25, rate), rate=rate))
    assert report.integrated_lufs == pytest.approx(-23.0, abs=0.15)
    assert report.loudness_range_lu == 0.0


def test_measure_does_not_modify_input() -> None:
    audio = stereo(tone(-10, 2, 48_000), rate=48_000)
    before = audio.samples.copy()
    measure(audio)
    np.testing.assert_array_equal(audio.samples, before)


def test_report_to_dict_rounds_values() -> None:
    report = LoudnessReport(-14.00049, 5.123456, -1.0, -1.2)
    assert report.to_dict() == {
        "integrated_lufs": -14.0,
        "loudness_range_lu": 5.123,
        "true_peak_dbtp": -1.0,
        "sample_peak_dbfs": -1.2,
    }


def test_nan_is_refused_not_measured() -> None:
    from stems.errors import AudioInputError

    x = np.zeros((2, 48_000), np.float32)
    x[1, 7] = np.nan
    with pytest.raises(AudioInputError, match="NaN"):
        measure(Audio(x, 48_000))


# --- a block at a time (issue 22: memory that does not grow with the signal's length) ----------------------


def _music(rate: int, seconds: float, seed: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((2, int(rate * seconds)))
    x[:, rng.integers(0, x.shape[1], 40)] = rng.choice([-1.2, 1.2], (2, 40))  # inter-sample overs to find
    return x.astype(np.float32)


def test_block_kernels_give_the_whole_signals_values() -> None:
    from mixing.loudness import power_meter, weighted_power
    from mixing.truepeak import interval_peak_blocks

    rate, block = 44_100, 3 * 1024  # blocks a whole number of true-peak screening blocks, as the readers give
    x = _music(rate, 2.0)
    blocks = [x[:, i : i + block] for i in range(0, x.shape[1], block)]
    meter = power_meter(2, rate)
    power = np.concatenate([meter(b) for b in blocks])
    np.testing.assert_array_equal(power, weighted_power(Audio(x, rate)))
    for threshold in (0.0, 0.5, 1.1):
        peaks = np.concatenate(list(interval_peak_blocks(blocks, rate, threshold)))
        np.testing.assert_array_equal(peaks, interval_peaks(x, rate, threshold))


def test_measure_does_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from stems import streaming

    audio = Audio(_music(32_000, 9.0), 32_000)
    whole = measure(audio)
    monkeypatch.setattr(streaming, "BLOCK_FRAMES", 5 * 1024)
    blocked = measure(audio)
    assert blocked.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-9)
    assert blocked.loudness_range_lu == pytest.approx(whole.loudness_range_lu, abs=1e-9)
    assert (blocked.true_peak_dbtp, blocked.sample_peak_dbfs) == (
        whole.true_peak_dbtp,
        whole.sample_peak_dbfs,
    )
