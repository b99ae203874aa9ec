"""Stem cleanup: each step's effect measured on synthetic audio, with explicit tolerances."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stems.audio import Audio
from stems.errors import AudioInputError, UserInputError
from stems.instruments import INSTRUMENT_FAMILIES
from stems.separation.cleanup import FAMILIES, CleanSettings, clean, gate_gain, settings_for

SR = 44100
OFF = CleanSettings(
    dc=False,
    highpass_hz=None,
    lowpass_hz=None,
    gate_open_db=None,
    gate_close_db=None,
    fade_in_s=None,
    fade_out_s=None,
    peak_ceiling_db=None,
)


def sine(freq: float, seconds: float, amp: float = 0.5, rate: int = SR, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1)).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-30))


def notes_with_noise(noise_db: float = -70.0) -> np.ndarray:
    """Four 0.4 s A4 notes at -12 dBFS peak, 0.6 s apart, over white noise at ``noise_db`` RMS."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4 * SR)) * 10 ** (noise_db / 20)
    note = sine(440.0, 0.4, amp=0.25)
    for k in range(4):
        start = int((0.2 + k) * SR)
        x[:, start : start + note.shape[1]] += note
    return x.astype(np.float32)


def test_dc_removed() -> None:
    x = sine(220.0, 1.0) + 0.3
    y = clean(Audio(x, SR), replace(OFF, dc=True)).samples
    assert np.abs(y.mean(axis=1)).max() < 1e-6
    # Only the offset goes: the sine itself is untouched.
    assert np.abs(y - (x - 0.3)).max() < 1e-5


def test_highpass_attenuates_30hz_by_butterworth_response() -> None:
    # Zero-phase 4th-order Butterworth at 60 Hz: |H(30 Hz)|^2 = 1 / (1 + 2^8) -> -48.2 dB.
    expected = -20 * np.log10(1 + (60 / 30) ** 8)
    x = sine(30.0, 4.0)
    y = clean(Audio(x, SR), replace(OFF, highpass_hz=60.0)).samples
    mid = slice(SR, 3 * SR)  # away from the filter's edge transients
    assert rms_db(y[:, mid]) - rms_db(x[:, mid]) == pytest.approx(expected, abs=0.3)
    passband = sine(1000.0, 1.0)
    z = clean(Audio(passband, SR), replace(OFF, highpass_hz=60.0)).samples
    assert rms_db(z) - rms_db(passband) == pytest.approx(0.0, abs=0.05)


def test_lowpass_attenuates_above_cutoff() -> None:
    # scipy's digital Butterworth comes from the bilinear transform: frequencies are pre-warped by tan.
    warped = np.tan(np.pi * 16000 / SR) / np.tan(np.pi * 8000 / SR)
    expected = -20 * np.log10(1 + warped**8)
    x = sine(16000.0, 1.0)
    y = clean(Audio(x, SR), replace(OFF, lowpass_hz=8000.0)).samples
    mid = slice(SR // 4, 3 * SR // 4)
    assert rms_db(y[:, mid]) - rms_db(x[:, mid]) == pytest.approx(expected, abs=0.5)


def test_lowpass_at_or_above_nyquist_is_skipped() -> None:
    x = sine(3000.0, 0.5, rate=8000)
    y = clean(Audio(x, 8000), replace(OFF, lowpass_hz=8000.0)).samples
    np.testing.assert_array_equal(y, x)


def test_gate_silences_noise_between_notes_and_keeps_notes() -> None:
    x = notes_with_noise()
    settings = replace(
        OFF,
        gate_open_db=-40.0,
        gate_close_db=-50.0,
        gate_hold_s=0.05,
        gate_attack_s=0.002,
        gate_release_s=0.05,
    )
    y = clean(Audio(x, SR), settings).samples
    for k in range(4):
        gap = slice(int((0.8 + k) * SR), int((1.1 + k) * SR))  # 0.2 s after a note ends (hold+release=0.1)
        note = slice(int((0.3 + k) * SR), int((0.5 + k) * SR))
        if k < 3:
            assert np.abs(y[:, gap]).max() == 0.0
        assert rms_db(y[:, note]) == pytest.approx(rms_db(x[:, note]), abs=0.01)
    # Before the first note the gate is closed too.
    assert np.abs(y[:, : int(0.1 * SR)]).max() == 0.0


def test_gate_opens_before_onset_lookahead() -> None:
    x = notes_with_noise()
    settings = replace(OFF, gate_open_db=-40.0, gate_close_db=-50.0, gate_attack_s=0.005)
    gain = gate_gain(x.astype(np.float64), SR, settings)
    onset = int(0.2 * SR)
    assert gain[onset + 10] > 0.9  # the note's first millisecond passes (look-ahead = attack)


def _openings(gain: np.ndarray) -> int:
    opened = gain > 0.5
    return int(np.count_nonzero(opened[1:] & ~opened[:-1]) + opened[0])


def test_gate_hysteresis_prevents_chatter() -> None:
    # A note that then wobbles +-4 dB (5 Hz tremolo) around -47 dB: between close (-55) and open (-45).
    t = np.arange(3 * SR) / SR
    level_db = np.where(t < 0.5, -15.0, -47.0 + 4.0 * np.sin(2 * np.pi * 5 * t))
    level_db[t > 2.5] = -120.0
    x = (np.sqrt(2) * 10 ** (level_db / 20) * np.sin(2 * np.pi * 330 * t))[None].repeat(2, 0)
    base = replace(OFF, gate_hold_s=0.0, gate_attack_s=0.001, gate_release_s=0.005)
    with_gap = gate_gain(x, SR, replace(base, gate_open_db=-45.0, gate_close_db=-55.0))
    no_gap = gate_gain(x, SR, replace(base, gate_open_db=-47.0, gate_close_db=-47.0))
    assert _openings(with_gap) == 1
    assert with_gap[int(2.4 * SR)] == 1.0 and with_gap[-1] == 0.0
    assert _openings(no_gap) >= 5  # the same signal chatters without hysteresis


def test_gate_hold_bridges_short_gaps() -> None:
    x = sine(440.0, 1.0, amp=0.25)
    x[:, int(0.5 * SR) : int(0.53 * SR)] = 0.0  # 30 ms gap
    base = replace(OFF, gate_open_db=-40.0, gate_close_db=-50.0, gate_attack_s=0.001, gate_release_s=0.001)
    held = gate_gain(x, SR, replace(base, gate_hold_s=0.1))
    unheld = gate_gain(x, SR, replace(base, gate_hold_s=0.0))
    assert held[int(0.515 * SR)] == 1.0
    assert unheld[int(0.52 * SR)] < 0.01


def test_fades_start_and_end_at_zero() -> None:
    x = np.full((2, SR), 0.5, dtype=np.float32)
    y = clean(Audio(x, SR), replace(OFF, fade_in_s=0.01, fade_out_s=0.02)).samples
    assert np.all(y[:, 0] == 0.0) and np.all(y[:, -1] == 0.0)
    assert y[0, int(0.005 * SR)] == pytest.approx(0.25, abs=0.01)  # raised cosine: half-way = half gain
    np.testing.assert_allclose(y[:, int(0.01 * SR) : -int(0.02 * SR)], 0.5, atol=1e-7)
    assert np.all(np.diff(y[0, : int(0.01 * SR)]) >= 0)


def test_peak_ceiling_is_a_uniform_gain() -> None:
    x = sine(100.0, 0.5, amp=2.0)
    y = clean(Audio(x, SR), replace(OFF, peak_ceiling_db=-1.0)).samples
    assert np.abs(y).max() == pytest.approx(10 ** (-1 / 20), rel=1e-6)
    ratio = y[:, 100:200] / x[:, 100:200]
    assert np.ptp(ratio) < 1e-5  # no clipping: every sample scaled by the same factor
    quiet = sine(100.0, 0.5, amp=0.1)
    np.testing.assert_array_equal(clean(Audio(quiet, SR), replace(OFF, peak_ceiling_db=-1.0)).samples, quiet)


@pytest.mark.parametrize("length", [0, 1, 2, 10, 1000, SR + 7])
@pytest.mark.parametrize("channels", [1, 2])
def test_length_and_shape_unchanged(length: int, channels: int) -> None:
    x = np.random.default_rng(length).standard_normal((channels, length)).astype(np.float32) * 0.1
    y = clean(Audio(x, 32000), settings_for("bass"))
    assert y.samples.shape == (channels, length) and y.sample_rate == 32000
    assert np.isfinite(y.samples).all()


def test_input_not_mutated() -> None:
    x = notes_with_noise() + 0.2
    before = x.copy()
    clean(Audio(x, SR), settings_for("drums", peak_ceiling_db=-6.0))
    np.testing.assert_array_equal(x, before)


def test_all_steps_off_is_identity() -> None:
    x = notes_with_noise() + 0.1
    np.testing.assert_array_equal(clean(Audio(x, SR), OFF).samples, x)


STEP_ON = {
    "dc": {"dc": True},
    "highpass": {"highpass_hz": 60.0},
    "lowpass": {"lowpass_hz": 2000.0},
    "gate": {"gate_open_db": -16.0, "gate_close_db": -18.0},  # between the notes and the bed
    "fade_in": {"fade_in_s": 0.01},
    "fade_out": {"fade_out_s": 0.01},
    "peak": {"peak_ceiling_db": -20.0},
}


@pytest.mark.parametrize("step", sorted(STEP_ON))
def test_each_step_can_be_turned_off(step: str) -> None:
    """Turning one step on changes the output; the all-off settings leave it untouched (above)."""
    x = notes_with_noise(-50.0) + 0.05 + sine(30.0, 4.0, amp=0.05) + sine(5000.0, 4.0, amp=0.05)
    on = clean(Audio(x, SR), replace(OFF, **STEP_ON[step])).samples  # type: ignore[arg-type]
    assert np.abs(on - x).max() > 1e-3
    # ... and every other step stays off: only the part of the signal this step targets changed.
    if step.startswith("fade"):
        np.testing.assert_array_equal(on[:, SR:-SR], x[:, SR:-SR])


def test_settings_for_families() -> None:
    assert set(FAMILIES) == {
        *INSTRUMENT_FAMILIES,
        "other",
    }  # the families are defined once, in stems.instruments
    bass = settings_for("bass")
    assert bass.highpass_hz is not None and 20.0 <= bass.highpass_hz < 30.87  # under B0, the lowest note
    assert settings_for("vocals").highpass_hz == pytest.approx(82.4 / np.sqrt(2), abs=0.1)
    assert settings_for("pad").gate_open_db is None  # sustained families are not gated
    assert settings_for(None) == CleanSettings()
    assert settings_for("Drums") == settings_for("drums")
    assert settings_for("bass", highpass_hz=None).highpass_hz is None
    for family in FAMILIES:
        assert isinstance(settings_for(family), CleanSettings)


def test_lowest_note_of_family_loses_at_most_half_a_db() -> None:
    s = settings_for("bass")
    x = sine(30.87, 4.0)
    y = clean(Audio(x, SR), replace(OFF, highpass_hz=s.highpass_hz)).samples
    assert rms_db(y[:, SR : 3 * SR]) - rms_db(x[:, SR : 3 * SR]) == pytest.approx(-0.53, abs=0.1)


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda: settings_for("banjo"), "banjo"),
        (lambda: settings_for("bass", gate_db=-3), "gate_db"),
        (lambda: CleanSettings(gate_open_db=-60.0, gate_close_db=-50.0), "gate_close_db"),
        (lambda: CleanSettings(gate_open_db=-60.0, gate_close_db=None), "both thresholds"),
        (lambda: CleanSettings(highpass_hz=500.0, lowpass_hz=100.0), "below lowpass_hz"),
        (lambda: CleanSettings(highpass_hz=-1.0), "highpass_hz"),
        (lambda: CleanSettings(fade_in_s=-0.1), "fade_in_s"),
        (lambda: CleanSettings(peak_ceiling_db=3.0), "peak_ceiling_db"),
        (
            lambda: clean(Audio(np.zeros((1, 100), np.float32), 8000), CleanSettings(highpass_hz=5000.0)),
            "Nyquist",
        ),
    ],
)
def test_bad_settings_raise_user_errors(call: object, text: str) -> None:
    with pytest.raises(UserInputError, match=text):
        call()  # type: ignore[operator]


def test_nan_names_the_stem() -> None:
    x = sine(100.0, 0.1)
    x[1, 5] = np.nan
    with pytest.raises(AudioInputError, match="lead-guitar"):
        clean(Audio(x, SR), CleanSettings(), name="lead-guitar")


def test_silence_stays_silent() -> None:
    y = clean(Audio(np.zeros((2, SR), np.float32), SR), settings_for("drums")).samples
    assert y.shape == (2, SR) and np.abs(y).max() == 0.0


@pytest.mark.parametrize("field", [f.name for f in fields(CleanSettings)])
def test_every_field_is_used_or_validated(field: str) -> None:
    """Guards against a settings field that nothing reads (a flag that cannot do anything)."""
    import inspect

    import stems.separation.cleanup as module

    assert field in inspect.getsource(module).replace(f"    {field}:", "", 1)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(0, 3000),
    channels=st.sampled_from([1, 2]),
    rate=st.sampled_from([8000, 22050, 32000, 44100, 48000]),
    family=st.sampled_from([None, *FAMILIES]),
    toggles=st.lists(st.booleans(), min_size=5, max_size=5),
    scale=st.floats(0.0, 4.0),
)
def test_any_settings_keep_shape_finiteness_and_input(
    length: int, channels: int, rate: int, family: str | None, toggles: list[bool], scale: float
) -> None:
    base = settings_for(family)
    steps: dict[str, dict[str, object]] = {
        "dc": {"dc": False},
        "band": {"highpass_hz": None, "lowpass_hz": None},
        "gate": {"gate_open_db": None, "gate_close_db": None},
        "fades": {"fade_in_s": None, "fade_out_s": None},
        "peak": {"peak_ceiling_db": None},
    }
    off: dict[str, object] = {}
    for disabled, keep in zip(steps.values(), toggles):
        if not keep:
            off.update(disabled)
    x = (np.random.default_rng(length).standard_normal((channels, length)) * scale).astype(np.float32)
    before = x.copy()
    y = clean(Audio(x, rate), replace(base, **off))  # type: ignore[arg-type]
    assert y.samples.shape == x.shape and y.sample_rate == rate
    assert np.isfinite(y.samples).all()
    np.testing.assert_array_equal(x, before)
    if base.peak_ceiling_db is not None and "peak_ceiling_db" not in off and length:
        assert np.abs(y.samples).max() <= 10 ** (base.peak_ceiling_db / 20) + 1e-6
