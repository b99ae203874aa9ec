"""The mix bus: loudness normalisation, gains, constant-power pan, mute/solo, exact sums, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixing.loudness import integrated_loudness
from mixing.master import Master
from mixing.mix import MixResult, Track, mix, pan_gains
from stems.audio import Audio
from stems.errors import AudioInputError, UserInputError

RATE = 32_000


def sine(freq: float, amp: float, seconds: float = 3.0, channels: int = 1) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return Audio(np.tile(x, (channels, 1)), RATE)


def noise(seed: int, amp: float, seconds: float = 3.0, channels: int = 2) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio((amp * rng.standard_normal((channels, int(seconds * RATE)))).astype(np.float32), RATE)


def test_each_stem_is_normalised_to_the_reference() -> None:
    loud, quiet = noise(1, 0.3), noise(2, 0.01)
    for audio in (loud, quiet):
        result = mix([Track("only", audio)], reference_lufs=-23.0)
        assert integrated_loudness(result.audio) == pytest.approx(-23.0, abs=0.05)


def test_centred_mono_stem_keeps_its_loudness_in_stereo() -> None:
    # constant-power pan: a mono stem at -23 LUFS is still -23 LUFS as a centred stereo pair.
    result = mix([Track("keys", sine(440, 0.1))], reference_lufs=-20.0)
    assert result.audio.channels == 2
    assert integrated_loudness(result.audio) == pytest.approx(-20.0, abs=0.05)
    np.testing.assert_allclose(result.audio.samples[0], result.audio.samples[1], rtol=0, atol=1e-7)


def test_gain_db_is_relative_to_the_reference() -> None:
    result = mix([Track("bass", noise(3, 0.2), gain_db=-6.0)], reference_lufs=-23.0)
    assert integrated_loudness(result.audio) == pytest.approx(-29.0, abs=0.05)
    level = integrated_loudness(noise(3, 0.2))
    assert level is not None
    assert result.stem_gain_db["bass"] == pytest.approx(-23.0 - level - 6.0, abs=1e-9)


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.0, 0.3, 1.0])
def test_constant_power_pan_law(pan: float) -> None:
    left, right = pan_gains(pan, 1)
    assert left**2 + right**2 == pytest.approx(1.0, abs=1e-12)
    theta = (pan + 1) * math.pi / 4
    assert (left, right) == pytest.approx((math.cos(theta), math.sin(theta)))


def test_centre_pan_is_minus_3_db_and_stereo_centre_is_unity() -> None:
    assert pan_gains(0.0, 1) == pytest.approx((10 ** (-3.0103 / 20),) * 2, abs=1e-5)
    assert pan_gains(0.0, 2) == pytest.approx((1.0, 1.0))


@settings(max_examples=30, deadline=None)
@given(pan=st.floats(-1.0, 1.0))
def test_pan_moves_power_between_channels_only(pan: float) -> None:
    audio = sine(1000, 0.5, seconds=0.5)
    out = mix([Track("s", audio, pan=pan)]).audio.samples.astype(np.float64)
    power = np.mean(out[0] ** 2) + np.mean(out[1] ** 2)
    expected = mix([Track("s", audio)]).audio.samples.astype(np.float64)
    assert power == pytest.approx(np.mean(expected[0] ** 2) * 2, rel=1e-4)


def test_hard_pan_puts_a_mono_stem_in_one_channel() -> None:
    out = mix([Track("gtr", sine(300, 0.2), pan=-1.0)]).audio.samples
    assert np.abs(out[0]).max() > 0.01
    assert np.abs(out[1]).max() < 1e-6


def test_sum_is_sample_accurate() -> None:
    n = RATE
    a = np.zeros((1, n), np.float32)
    b = np.zeros((1, n), np.float32)
    a[0, 1000] = 0.5
    b[0, 1001] = -0.25
    a[0, 20_000:20_100] = 0.01  # give both stems the same loudness so the normalisation gains are equal
    b[0, 20_000:20_100] = 0.01
    result = mix([Track("a", Audio(a, RATE)), Track("b", Audio(b, RATE))], channels=1)
    out = result.audio.samples[0]
    ga = 10 ** (result.stem_gain_db["a"] / 20)
    gb = 10 ** (result.stem_gain_db["b"] / 20)
    assert out[1000] == pytest.approx(0.5 * ga, rel=1e-6)
    assert out[1001] == pytest.approx(-0.25 * gb, rel=1e-6)
    assert np.count_nonzero(out[:20_000]) == 2
    assert result.audio.num_samples == n


def test_mute_and_solo() -> None:
    a, b, c = noise(1, 0.1), noise(2, 0.1), noise(3, 0.1)
    muted = mix([Track("a", a), Track("b", b, mute=True), Track("c", c)])
    assert set(muted.stem_gain_db) == {"a", "c"}
    assert muted.muted == ("b",)
    solo = mix([Track("a", a, solo=True), Track("b", b), Track("c", c, solo=True, mute=True)])
    assert set(solo.stem_gain_db) == {"a"}
    assert solo.muted == ("b", "c")
    only_a = mix([Track("a", a)])
    np.testing.assert_allclose(solo.audio.samples, only_a.audio.samples, atol=1e-7)


def test_silent_stem_adds_nothing_and_is_reported() -> None:
    silent = Audio(np.zeros((2, 3 * RATE), np.float32), RATE)
    result = mix([Track("drums", noise(1, 0.1)), Track("pad", silent, gain_db=-2.0)])
    assert result.silent == ("pad",)
    assert result.stem_gain_db["pad"] == -2.0
    assert integrated_loudness(result.audio) == pytest.approx(-23.0, abs=0.05)


def test_all_silent_mix_gives_a_clear_message_when_mastered() -> None:
    silent = Audio(np.zeros((2, 3 * RATE), np.float32), RATE)
    result = mix([Track("a", silent), Track("b", silent)])
    assert not np.any(result.audio.samples)
    with pytest.raises(AudioInputError, match="silent"):
        Master().master(result.audio)


def test_measure_stems_reports_every_stem() -> None:
    result = mix([Track("a", noise(1, 0.1)), Track("b", sine(220, 0.2), mute=True)], measure_stems=True)
    assert set(result.stem_reports) == {"a", "b"}
    assert result.stem_reports["b"].true_peak_dbtp == pytest.approx(20 * math.log10(0.2), abs=0.1)


def test_inputs_are_not_modified() -> None:
    a = noise(1, 0.1)
    before = a.samples.copy()
    mix([Track("a", a, gain_db=5.0, pan=0.4)])
    np.testing.assert_array_equal(a.samples, before)


def test_stereo_to_mono_bus_averages_channels() -> None:
    audio = noise(4, 0.1)
    result = mix([Track("a", audio)], channels=1)
    g = 10 ** (result.stem_gain_db["a"] / 20)
    np.testing.assert_allclose(result.audio.samples[0], g * audio.samples.mean(axis=0), rtol=1e-5, atol=1e-7)


def test_nan_in_a_stem_names_it() -> None:
    bad = noise(1, 0.1)
    samples = bad.samples.copy()
    samples[1, 500] = np.nan
    with pytest.raises(AudioInputError, match="'vocals'"):
        mix([Track("drums", noise(2, 0.1)), Track("vocals", Audio(samples, RATE))])


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (Track("b", Audio(np.zeros((2, 3 * 48_000), np.float32), 48_000)), "'b' is at 48000 Hz"),
        (Track("b", noise(2, 0.1, seconds=2.0)), "'b' has 64000 samples"),
        (Track("b", noise(2, 0.1), pan=1.5), "pan 1.5"),
        (Track("b", noise(2, 0.1), gain_db=math.inf), "gain_db inf"),
        (Track("a", noise(2, 0.1)), "repeated: a"),
        (Track("b", noise(2, 0.1, channels=6)), "6 channels"),
    ],
)
def test_bad_tracks_are_user_errors_naming_the_stem(second: Track, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        mix([Track("a", noise(1, 0.1)), second])


def test_empty_and_bad_settings() -> None:
    with pytest.raises(UserInputError, match="no stems"):
        mix([])
    with pytest.raises(UserInputError, match="channels must be 1 or 2"):
        mix([Track("a", noise(1, 0.1))], channels=3)
    with pytest.raises(UserInputError, match="reference loudness"):
        mix([Track("a", noise(1, 0.1))], reference_lufs=5.0)


def test_result_type() -> None:
    result = mix([Track("a", noise(1, 0.1))])
    assert isinstance(result, MixResult)
    assert result.audio.sample_rate == RATE and result.audio.samples.dtype == np.float32
